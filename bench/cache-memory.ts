/**
 * Resident memory through a database's life (issue 16's memory target), with
 * the bounded page cache against the whole log in memory and lmdb-js, in the
 * same run: --records records (24-byte keys, 150-byte values, the main
 * bench's shape) loaded into an empty database, every key read once in a
 * random order, a third removed, then a compaction (emdb-js only: lmdb-js has
 * none). Each configuration runs in a fresh process of its own, configurations
 * taking turns, --samples times; figures are medians of RSS above the
 * process before the open, in MiB: settled (the lowest over a second after
 * the phase: what stays) and the peak during the load and the compaction
 * (sampled every 5 ms).
 *
 * Run alone: node dist/bench/cache-memory.js [--records 1000000] [--samples 2] [--cache 32]
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { EmdbAdapter, loadEmdb } from './adapters/emdb-js.js';
import { loadAdapter } from './adapters/registry.js';
import type { StoreAdapter } from './adapters/types.js';
import { intArg, isMain, log, median, mkTempDir, parseArgs, removeDir } from './util.js';
import { keyAt, loadEntries, localKeys, makeKeys, mulberry32 } from './workload.js';

const SEED = 11;
const MiB = 1024 * 1024;

type Phases = Record<string, number>;

async function settledRss(): Promise<number> {
  let low = process.memoryUsage().rss;
  for (let waited = 0; waited < 1_000; waited += 100) {
    await new Promise((r) => setTimeout(r, 100));
    low = Math.min(low, process.memoryUsage().rss);
  }
  return low;
}

/** Runs `work` sampling RSS every 5 ms; returns the peak. */
async function peakDuring(work: () => Promise<void>): Promise<number> {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 5);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return Math.max(peak, process.memoryUsage().rss);
}

/** One sample in its own process: `config` is 'lmdb', 'whole' or a cache size in MiB. */
async function child(dir: string, config: string, records: number): Promise<Phases> {
  const keys = localKeys(makeKeys(SEED, records));
  const base = await settledRss();
  let store: StoreAdapter;
  if (config === 'lmdb') {
    const loaded = await loadAdapter('lmdb');
    if (!loaded.ok) throw new Error(loaded.reason);
    store = loaded.adapter;
  } else {
    store = new EmdbAdapter(await loadEmdb(), { cacheSize: config === 'whole' ? Infinity : Number(config) * MiB } as object);
  }
  await store.open(dir);
  const at = async (): Promise<number> => ((await settledRss()) - base) / MiB;
  const phases: Phases = { empty: await at() };
  phases.loadPeak = ((await peakDuring(() => store.bulkLoad(loadEntries(keys, SEED, 0, records)))) - base) / MiB;
  phases.load = await at();
  const next = mulberry32(SEED);
  for (let n = 0; n < records; n++) store.getSync(keyAt(keys, next() % records));
  phases.reads = await at();
  // A third removed, 10,000 keys a call: an array of all 333,333 key views would add ~35 MiB of the
  // bench's own heap to every row (it did before 2026-12-03's twelfth session).
  for (let from = 0; from < records; from += 30_000) {
    const slice: Uint8Array[] = [];
    for (let i = from; i < Math.min(records, from + 30_000); i += 3) slice.push(keyAt(keys, i));
    await store.removeMany(slice, 256);
  }
  if (config !== 'lmdb') {
    phases.compactPeak = ((await peakDuring(() => store.compact())) - base) / MiB;
    phases.compacted = await at();
  }
  await store.close();
  return phases;
}

const SELF = fileURLToPath(import.meta.url);

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.has('child')) {
    const [dir, config, records] = args.get('child')!.split(',');
    process.stdout.write(`${JSON.stringify(await child(dir!, config!, Number(records)))}\n`);
    return;
  }
  const records = intArg(args, 'records', 1_000_000);
  const samples = intArg(args, 'samples', 2);
  const cache = intArg(args, 'cache', 32);
  const configs = ['lmdb', 'whole', String(cache)];
  const results: Record<string, Phases[]> = {};
  for (let s = 0; s < samples; s++) {
    for (const config of configs) {
      const root = mkTempDir('emdb-bench-cache-memory-');
      try {
        log(`sample ${s + 1}/${samples}: ${config}`);
        const out = spawnSync(process.execPath, [SELF, '--child', [root, config, records].join(',')], { encoding: 'utf8', timeout: 900_000 });
        if (out.status !== 0) throw new Error(`${config}: ${out.stderr.trim().split('\n').slice(-3).join(' | ')}`);
        (results[config] ??= []).push(JSON.parse(out.stdout.trim().split('\n').pop()!) as Phases);
      } finally {
        removeDir(root);
      }
    }
  }
  const phases = ['empty', 'loadPeak', 'load', 'reads', 'compactPeak', 'compacted'];
  const name = (c: string): string => (c === 'lmdb' ? 'lmdb-js' : c === 'whole' ? 'emdb-js, whole log (cacheSize Infinity)' : `emdb-js, cacheSize ${c} MiB`);
  const cell = (c: string, p: string): string => {
    const xs = results[c]!.map((r) => r[p]).filter((x): x is number => x !== undefined);
    return xs.length === 0 ? '—' : median(xs).toFixed(0);
  };
  const lines = [
    `${records} records; RSS above the process before the open, MiB, medians of ${samples} (${os.cpus().length} cores, ${os.cpus()[0]?.model ?? '?'}, ${new Date().toISOString().slice(0, 10)})`,
    '',
    `| configuration | ${phases.join(' | ')} |`,
    `|---|${phases.map(() => '--:').join('|')}|`,
    ...configs.map((c) => `| ${name(c)} | ${phases.map((p) => cell(c, p)).join(' | ')} |`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

if (isMain(import.meta.url)) await main();
