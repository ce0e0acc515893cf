/**
 * Start-up cost, the way a short-lived process (a CLI, a serverless handler, a
 * job) pays it: a fresh `node` process per sample that imports the store,
 * opens it and makes one write durable ("create": empty directory; "reopen": a
 * closed store of --records records, then one `getSync` and one durable write).
 * Times are from the process's start (performance.now() counts from it), so
 * Node's own boot, the store's module loading, its threads and its open are all
 * in; "node alone" is the same child doing nothing, the floor every store pays.
 * Stores take turns sample by sample, so a noisy neighbour's burst hits all of
 * them; each figure is the median of --samples.
 * Run alone: node dist/bench/startup.js [--samples 9] [--records 10000] [--stores a,b]
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAdapter, parseStores } from './adapters/registry.js';
import type { StoreName } from './adapters/types.js';
import { errorMessage, intArg, isMain, log, median, mkTempDir, parseArgs, removeDir } from './util.js';
import { freshEntries, mulberry32 } from './workload.js';

type Mode = 'create' | 'reopen';

interface ChildTimes {
  /** ms since process start when the store's module was loaded (adapter created). */
  loaded: number;
  /** ... when open() resolved. */
  opened: number;
  /** ... when the first read resolved (reopen only). */
  firstRead?: number;
  /** ... when the first durable write resolved. */
  firstDurableWrite: number;
}

/** One sample, inside the child process. */
async function child(store: StoreName, dir: string, mode: Mode): Promise<ChildTimes> {
  const loadedAdapter = await loadAdapter(store);
  if (!loadedAdapter.ok) throw new Error(loadedAdapter.reason);
  const a = loadedAdapter.adapter;
  const loaded = performance.now();
  await a.open(dir);
  const opened = performance.now();
  let firstRead: number | undefined;
  const [key, value] = freshEntries(mulberry32(Math.floor(Math.random() * 2 ** 31)), 1)[0]!;
  if (mode === 'reopen') {
    // The sync read every store has (lmdb-js 3's experimental getAsync crashes the
    // process when it is the first call after open, so the async APIs are not compared here).
    a.getSync(key);
    firstRead = performance.now();
  }
  await a.putDurable(key, value);
  const firstDurableWrite = performance.now();
  await a.close();
  return { loaded, opened, ...(firstRead === undefined ? {} : { firstRead }), firstDurableWrite };
}

/** Fills `dir` with a closed store of `records` records (untimed). */
async function prepare(store: StoreName, dir: string, records: number): Promise<void> {
  const loadedAdapter = await loadAdapter(store);
  if (!loadedAdapter.ok) throw new Error(loadedAdapter.reason);
  const a = loadedAdapter.adapter;
  await a.open(dir);
  await a.bulkLoad(freshEntries(mulberry32(11), records));
  await a.close();
}

const SELF = fileURLToPath(import.meta.url);

function runChild(args: string[]): ChildTimes | { nodeAlone: number } {
  const out = spawnSync(process.execPath, [SELF, ...args], { encoding: 'utf8', timeout: 120_000 });
  if (out.status !== 0) throw new Error(`child ${args.join(' ')} exited ${out.status}: ${out.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return JSON.parse(out.stdout.trim().split('\n').pop()!) as ChildTimes | { nodeAlone: number };
}

const ms = (x: number | undefined): string => (x === undefined ? '—' : `${x.toFixed(1)} ms`);

export async function startupBench(samples: number, records: number, stores: StoreName[]): Promise<Record<string, unknown>> {
  const root = mkTempDir('emdb-bench-startup-');
  // Every store gets an existing empty directory, as run-store does.
  const dirFor = (name: string): string => {
    const dir = path.join(root, name);
    fs.mkdirSync(dir, { recursive: true });
    return dir;
  };
  const results: Record<string, Record<Mode, ChildTimes[]>> = {};
  const nodeAlone: number[] = [];
  const failed: Record<string, string> = {};
  try {
    const prepared = new Map<StoreName, string>();
    for (const store of stores) {
      try {
        const dir = dirFor(`${store}-reopen`);
        await prepare(store, dir, records);
        prepared.set(store, dir);
        results[store] = { create: [], reopen: [] };
      } catch (err) {
        failed[store] = errorMessage(err);
      }
    }
    for (let i = 0; i < samples; i++) {
      nodeAlone.push((runChild(['--node-alone']) as { nodeAlone: number }).nodeAlone);
      for (const [store, reopenDir] of prepared) {
        for (const mode of ['create', 'reopen'] as const) {
          const dir = mode === 'create' ? dirFor(`${store}-create-${i}`) : reopenDir;
          try {
            results[store]![mode].push(runChild(['--child', store, dir, mode]) as ChildTimes);
          } catch (err) {
            failed[store] = errorMessage(err);
          }
          if (mode === 'create') removeDir(dir);
        }
      }
    }
  } finally {
    removeDir(root);
  }
  const summary: Record<string, unknown> = {};
  const lines = [`node alone (process start to exit of an empty script): ${ms(median(nodeAlone))}`, '', '| store | create: loaded | opened | first durable write | reopen: opened | first read | first durable write |', '|---|--:|--:|--:|--:|--:|--:|'];
  for (const [store, r] of Object.entries(results)) {
    if (r.create.length === 0) continue;
    const c = (k: keyof ChildTimes) => median(r.create.map((t) => t[k] ?? 0));
    const o = (k: keyof ChildTimes) => median(r.reopen.map((t) => t[k] ?? 0));
    summary[store] = {
      create: { loaded: c('loaded'), opened: c('opened'), firstDurableWrite: c('firstDurableWrite') },
      reopen: { opened: o('opened'), firstRead: o('firstRead'), firstDurableWrite: o('firstDurableWrite') },
    };
    lines.push(`| ${store} | ${ms(c('loaded'))} | ${ms(c('opened'))} | ${ms(c('firstDurableWrite'))} | ${ms(o('opened'))} | ${ms(o('firstRead'))} | ${ms(o('firstDurableWrite'))} |`);
  }
  log(lines.join('\n'));
  return {
    bench: 'startup',
    samples,
    records,
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, Node ${process.version}, load ${os.loadavg().map((x) => x.toFixed(1)).join('/')}`,
    nodeAloneMs: median(nodeAlone),
    medians: summary,
    ...(Object.keys(failed).length ? { failed } : {}),
  };
}

if (isMain(import.meta.url)) {
  const argv = process.argv.slice(2);
  if (argv[0] === '--node-alone') {
    process.stdout.write(`${JSON.stringify({ nodeAlone: performance.now() })}\n`);
  } else if (argv[0] === '--child') {
    const times = await child(argv[1] as StoreName, argv[2]!, argv[3] as Mode);
    process.stdout.write(`${JSON.stringify(times)}\n`);
  } else {
    const args = parseArgs(argv);
    const out = await startupBench(intArg(args, 'samples', 9), intArg(args, 'records', 10_000), parseStores(args.get('stores')));
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  }
}
