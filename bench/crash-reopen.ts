/**
 * Reopen after a crash against reopen after a clean close (issue 16: "open +
 * first read after a crash ≤ 2× the clean reopen plus the tail replay").
 * One database of --records records (the main bench's shape) is closed
 * cleanly; a copy of it is then opened, --tail more records are written and
 * flushed, and its process is killed with SIGKILL: the crash image, whose
 * last checkpoint is the clean close, with --tail records after it. Each
 * sample opens a fresh copy of one image in a fresh process (the module
 * import is timed apart) and times `Emdb.open` to the first `getSync`'s
 * result; configurations take turns. Reported: medians, the records the
 * crash open replayed, its own replay time (stats().recovery.durationMs) and
 * the target, 2 × clean + that replay.
 *
 * Run alone: node dist/bench/crash-reopen.js [--records 1000000] [--tail 10000] [--samples 5] [--caches 32]
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EmdbAdapter, loadEmdb } from './adapters/emdb-js.js';
import { copyTree, intArg, isMain, log, median, mkTempDir, parseArgs, removeDir } from './util.js';
import { freshEntries, keyAt, loadEntries, localKeys, makeKeys, mulberry32 } from './workload.js';

const SEED = 13;
const MiB = 1024 * 1024;
const FILE = 'bench.emdb';

interface Sample {
  importMs: number;
  openFirstReadMs: number;
  replayed: number;
  replayMs: number;
  mode: string;
}

/** `cache` is 'whole' or MiB. */
function openOptions(cache: string): object {
  return cache === 'whole' ? {} : { cacheSize: Number(cache) * MiB };
}

async function sample(dir: string, cache: string, records: number): Promise<Sample> {
  const keys = localKeys(makeKeys(SEED, records));
  const importStarted = performance.now();
  const Emdb = await loadEmdb();
  const started = performance.now();
  const db = await Emdb.open(path.join(dir, FILE), openOptions(cache));
  if (db.getSync(keyAt(keys, Math.floor(records / 2))) === undefined) throw new Error('a loaded key is missing');
  const openFirstReadMs = performance.now() - started;
  const recovery = ((await (db as unknown as { stats(): Promise<{ recovery: { recordsReplayed: number; durationMs: number; mode: string } }> }).stats()).recovery);
  await db.close();
  return { importMs: started - importStarted, openFirstReadMs, replayed: recovery.recordsReplayed, replayMs: recovery.durationMs, mode: recovery.mode };
}

/** Opens `dir`'s database, writes `tail` fresh records, flushes, and dies by SIGKILL (the parent sees the signal). */
async function crash(dir: string, tail: number): Promise<never> {
  const Emdb = await loadEmdb();
  const db = await Emdb.open(path.join(dir, FILE));
  const entries = freshEntries(mulberry32(SEED + 1), tail);
  for (const [key, value] of entries) await db.insert(key, value);
  await db.flush();
  process.kill(process.pid, 'SIGKILL');
  throw new Error('still alive after SIGKILL');
}

const SELF = fileURLToPath(import.meta.url);

function spawnChild(args: string): ReturnType<typeof spawnSync> {
  return spawnSync(process.execPath, [SELF, '--child', args], { encoding: 'utf8', timeout: 600_000 });
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.has('child')) {
    const [mode, dir, cache, records] = args.get('child')!.split(',');
    if (mode === 'crash') await crash(dir!, Number(records));
    process.stdout.write(`${JSON.stringify(await sample(dir!, cache!, Number(records)))}\n`);
    return;
  }
  const records = intArg(args, 'records', 1_000_000);
  const tail = intArg(args, 'tail', 10_000);
  const samples = intArg(args, 'samples', 5);
  const caches = ['whole', ...(args.get('caches') ?? '32').split(',')];
  const root = mkTempDir('emdb-bench-crash-reopen-');
  try {
    log(`preparing ${records} records, then a crash image with ${tail} more`);
    const clean = path.join(root, 'clean');
    fs.mkdirSync(clean);
    const e = new EmdbAdapter(await loadEmdb());
    await e.open(clean);
    await e.bulkLoad(loadEntries(localKeys(makeKeys(SEED, records)), SEED, 0, records));
    await e.close();
    const crashed = path.join(root, 'crashed');
    copyTree(clean, crashed, () => false);
    const killed = spawnChild(['crash', crashed, 'whole', tail].join(','));
    if (killed.signal !== 'SIGKILL') throw new Error(`the crash child was not killed: ${String(killed.status)} ${String(killed.stderr).trim().split('\n').slice(-3).join(' | ')}`);
    const configs = caches.flatMap((cache) => [
      { image: 'clean', dir: clean, cache },
      { image: 'crash', dir: crashed, cache },
    ]);
    const results = new Map<string, Sample[]>();
    for (let s = 0; s < samples; s++) {
      for (const c of configs) {
        const copy = path.join(root, 'sample');
        removeDir(copy);
        copyTree(c.dir, copy, () => false);
        // The copy's dirty pages are written back first: a reopen meets files at rest, not a writeback storm.
        spawnSync('sync');
        const out = spawnChild(['open', copy, c.cache, records].join(','));
        if (out.status !== 0) throw new Error(`${c.image} ${c.cache}: ${String(out.stderr).trim().split('\n').slice(-3).join(' | ')}`);
        const key = `${c.image} ${c.cache}`;
        results.set(key, [...(results.get(key) ?? []), JSON.parse(String(out.stdout).trim().split('\n').pop()!) as Sample]);
      }
    }
    const med = (key: string, pick: (s: Sample) => number): number => median(results.get(key)!.map(pick));
    const lines = [
      `${records} records, log ${(fs.statSync(path.join(clean, FILE)).size / MiB).toFixed(0)} MiB, crash image with ${tail} records after the last checkpoint; medians of ${samples} (${os.cpus().length} cores, ${os.cpus()[0]?.model ?? '?'}, ${new Date().toISOString().slice(0, 10)})`,
      '',
      '| cacheSize | clean: open + first read, ms | crash: open + first read, ms | crash: records replayed | crash: replay, ms | target 2 × clean + replay, ms | met |',
      '|---|--:|--:|--:|--:|--:|:-:|',
      ...caches.map((cache) => {
        const cleanMs = med(`clean ${cache}`, (r) => r.openFirstReadMs);
        const crashMs = med(`crash ${cache}`, (r) => r.openFirstReadMs);
        const replayMs = med(`crash ${cache}`, (r) => r.replayMs);
        const target = 2 * cleanMs + replayMs;
        const name = cache === 'whole' ? 'unset (whole log)' : `${cache} MiB`;
        return `| ${name} | ${cleanMs.toFixed(1)} | ${crashMs.toFixed(1)} | ${med(`crash ${cache}`, (r) => r.replayed)} | ${replayMs.toFixed(1)} | ${target.toFixed(1)} | ${crashMs <= target ? 'yes' : 'no'} |`;
      }),
      '',
      `Import of the package (not in the times above): ${median([...results.values()].flat().map((r) => r.importMs)).toFixed(1)} ms. Recovery modes seen: ${[...new Set([...results.values()].flat().map((r) => r.mode))].join(', ')}.`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    removeDir(root);
  }
}

if (isMain(import.meta.url)) await main();
