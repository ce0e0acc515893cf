/**
 * The bounded page cache (issue 16): reopen, memory and random reads of one
 * closed database of --records records (24-byte keys, 150-byte values, the
 * main bench's shape) opened four ways, beside lmdb-js on the same keys in the
 * same run: emdb-js without cacheSize (the whole log in shared memory), and
 * with cacheSize = --caches (MiB, default 32,64,512: a quarter of the log or
 * less, and more than all of it). Each sample is a fresh process per
 * configuration, configurations taking turns, so a noisy neighbour hits all
 * of them; figures are medians of --samples.
 *
 * Per sample: ms to import the store's module, then ms from the open call to
 * the first getSync's result (threads' start and the open are in; the import
 * is not, as in the issue's "reopen + first read" target), RSS after that; then, 3 s later (background warm-up done), --reads
 * uniform random getSync (lmdb-js: getBinaryFast, its fastest read) over all
 * keys, wall ns per read (the calling thread's own work: getSync is
 * synchronous), and RSS after them. Uniform reads over a log larger than
 * the cache miss mostly: each a pread of the record (the "from the file" rows).
 *
 * `--encrypted`: the emdb-js database is encrypted (AES-256-GCM, a raw key):
 * a read that misses the cache reads and authenticates the sealed unit that
 * holds the record (lmdb-js, which has no encryption, stays the reference).
 *
 * Run alone: node dist/bench/cache.js [--records 1000000] [--reads 300000] [--samples 3] [--caches 32,64,512] [--encrypted]
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EmdbAdapter, loadEmdb } from './adapters/emdb-js.js';
import { loadAdapter } from './adapters/registry.js';
import { intArg, isMain, log, median, mkTempDir, parseArgs, removeDir } from './util.js';
import { keyAt, loadEntries, localKeys, makeKeys, mulberry32 } from './workload.js';

const SEED = 7;
const MiB = 1024 * 1024;
/** The --encrypted runs' key: a fixed raw key (the bench measures reads, not key handling). */
const ENCRYPTION = { encryption: { key: new Uint8Array(32).fill(0x42) } };
/** Wait after the first read, before the timed reads (ms). */
const SETTLE_MS = 3_000;

interface Sample {
  /** ms to import the store's module (emdb-js: the package; lmdb-js: the adapter and lmdb). */
  importMs: number;
  /** ms from the open call to the first getSync's result (the import not counted: the target). */
  openFirstReadMs: number;
  rssOpenMiB: number;
  nsPerRead: number;
  rssReadsMiB: number;
  found: number;
  cache?: unknown;
}

/** One sample, in its own process: `config` is 'lmdb', 'whole' or a cache size in MiB. */
async function child(dir: string, config: string, records: number, reads: number, encrypted: boolean): Promise<Sample> {
  const keys = localKeys(makeKeys(SEED, records));
  const order = new Uint32Array(reads);
  const next = mulberry32(Math.floor(Math.random() * 2 ** 31));
  for (let i = 0; i < reads; i++) order[i] = next() % records;
  let getSync: (key: Uint8Array) => Uint8Array | undefined;
  let close: () => Promise<void>;
  let stats: () => Promise<unknown> = () => Promise.resolve(undefined);
  const importStarted = performance.now();
  let started: number;
  if (config === 'lmdb') {
    const loaded = await loadAdapter('lmdb');
    if (!loaded.ok) throw new Error(loaded.reason);
    const a = loaded.adapter;
    started = performance.now();
    await a.open(dir);
    getSync = (key) => a.getSyncFast!(key);
    close = () => a.close();
  } else {
    const Emdb = await loadEmdb();
    started = performance.now();
    const opened = await Emdb.open(path.join(dir, 'bench.emdb'), { ...(config === 'whole' ? {} : { cacheSize: Number(config) * MiB }), ...(encrypted ? ENCRYPTION : {}) } as object);
    getSync = (key) => opened.getSync(key);
    close = () => opened.close();
    stats = async () => ((await (opened as unknown as { stats(): Promise<{ cache: unknown }> }).stats()).cache);
  }
  getSync(keyAt(keys, order[0]!));
  const openFirstReadMs = performance.now() - started;
  const importMs = started - importStarted;
  const rssOpenMiB = process.memoryUsage().rss / MiB;
  // The background warm-up (the whole log's lazy pages, or the cache's free frames) ends first: it would share the cores.
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  let found = 0;
  const t0 = performance.now();
  for (let i = 0; i < reads; i++) if (getSync(keyAt(keys, order[i]!)) !== undefined) found++;
  const nsPerRead = ((performance.now() - t0) * 1e6) / reads;
  const rssReadsMiB = process.memoryUsage().rss / MiB;
  const cache = await stats();
  await close();
  return { importMs, openFirstReadMs, rssOpenMiB, nsPerRead, rssReadsMiB, found, ...(cache === undefined ? {} : { cache }) };
}

async function prepare(root: string, records: number, encrypted: boolean): Promise<{ emdb: string; lmdb: string; logMiB: number }> {
  const keys = localKeys(makeKeys(SEED, records));
  const emdb = path.join(root, 'emdb');
  const lmdbDir = path.join(root, 'lmdb');
  fs.mkdirSync(emdb);
  fs.mkdirSync(lmdbDir);
  const e = new EmdbAdapter(await loadEmdb(), encrypted ? (ENCRYPTION as object) : {});
  await e.open(emdb);
  await e.bulkLoad(loadEntries(keys, SEED, 0, records));
  await e.close();
  const loaded = await loadAdapter('lmdb');
  if (!loaded.ok) throw new Error(loaded.reason);
  await loaded.adapter.open(lmdbDir);
  await loaded.adapter.bulkLoad(loadEntries(keys, SEED, 0, records));
  await loaded.adapter.close();
  const logMiB = fs.statSync(path.join(emdb, 'bench.emdb')).size / MiB;
  return { emdb, lmdb: lmdbDir, logMiB };
}

const SELF = fileURLToPath(import.meta.url);

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.has('child')) {
    const [dir, config, records, reads, encrypted] = args.get('child')!.split(',');
    process.stdout.write(`${JSON.stringify(await child(dir!, config!, Number(records), Number(reads), encrypted === '1'))}\n`);
    return;
  }
  const records = intArg(args, 'records', 1_000_000);
  const reads = intArg(args, 'reads', 300_000);
  const samples = intArg(args, 'samples', 3);
  const caches = (args.get('caches') ?? '32,64,512').split(',').map(Number);
  const encrypted = args.has('encrypted');
  const root = mkTempDir('emdb-bench-cache-');
  try {
    log(`preparing ${records} records`);
    const dirs = await prepare(root, records, encrypted);
    const configs = ['lmdb', 'whole', ...caches.map(String)];
    const results: Record<string, Sample[]> = {};
    for (let s = 0; s < samples; s++) {
      for (const config of configs) {
        const dir = config === 'lmdb' ? dirs.lmdb : dirs.emdb;
        const out = spawnSync(process.execPath, [SELF, '--child', [dir, config, records, reads, encrypted ? 1 : 0].join(',')], { encoding: 'utf8', timeout: 600_000 });
        if (out.status !== 0) throw new Error(`${config}: ${out.stderr.trim().split('\n').slice(-3).join(' | ')}`);
        (results[config] ??= []).push(JSON.parse(out.stdout.trim().split('\n').pop()!) as Sample);
      }
    }
    const lmdbNs = median(results.lmdb!.map((r) => r.nsPerRead));
    const name = (c: string): string => (c === 'lmdb' ? 'lmdb-js getBinaryFast' : c === 'whole' ? `emdb-js${encrypted ? ' encrypted' : ''}, no cacheSize (whole log)` : `emdb-js${encrypted ? ' encrypted' : ''}, cacheSize ${c} MiB`);
    const lines = [
      `${records} records, log ${dirs.logMiB.toFixed(0)} MiB; ${reads} uniform random getSync per sample; medians of ${samples} (${os.cpus().length} cores, ${os.cpus()[0]?.model ?? '?'}, ${new Date().toISOString().slice(0, 10)})`,
      '',
      '| configuration | import, ms | open + first read, ms | RSS after open, MiB | ns per read | vs lmdb-js | RSS after reads, MiB |',
      '|---|--:|--:|--:|--:|--:|--:|',
      ...configs.map((c) => {
        const rs = results[c]!;
        const ns = median(rs.map((r) => r.nsPerRead));
        return `| ${name(c)} | ${median(rs.map((r) => r.importMs)).toFixed(1)} | ${median(rs.map((r) => r.openFirstReadMs)).toFixed(1)} | ${median(rs.map((r) => r.rssOpenMiB)).toFixed(0)} | ${ns.toFixed(0)} | ${(lmdbNs / ns).toFixed(2)}× | ${median(rs.map((r) => r.rssReadsMiB)).toFixed(0)} |`;
      }),
    ];
    const missing = configs.filter((c) => results[c]!.some((r) => r.found !== reads));
    if (missing.length > 0) lines.push('', `**Reads that found nothing** in: ${missing.join(', ')}`);
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    removeDir(root);
  }
}

if (isMain(import.meta.url)) await main();
