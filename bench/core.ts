/**
 * Quick micro benchmark of emdb-js alone against lmdb (and classic-level for
 * pipelined async gets), in one process, 200,000 records by default:
 *   load        emdb insertMany + flush   vs lmdb transactionSync(putSync ...)
 *   getSync     emdb getSync              vs lmdb getBinary and vs lmdb getBinaryFast (its fastest)
 *   async get   emdb get, 10,000 in flight per batch vs classic-level get (lmdb getAsync for information)
 *   getMany     emdb getMany (1,000 keys) vs lmdb getMany
 *   reader pool emdb getMany, 8 calls in flight, readers = cores vs readers = 1, and vs lmdb
 * Prints ops/s and ratios; writes nothing but its temp dirs (removed).
 *   node dist/bench/core.js [--records 200000] [--reads 500000]
 */
import os from 'node:os';
import { ClassicLevelAdapter } from './adapters/classic-level.js';
import { EmdbAdapter, loadEmdb } from './adapters/emdb-js.js';
import { LmdbAdapter } from './adapters/lmdb.js';
import type { StoreAdapter } from './adapters/types.js';
import { formatRate } from './format.js';
import { errorMessage, intArg, log, mkTempDir, parseArgs, pipelined, removeDir } from './util.js';
import { DEFAULT_SEED, keyAt, loadEntries, localKeys, makeKeys, mulberry32, pick } from './workload.js';

const ASYNC_WINDOW = 10_000;
const GET_MANY_KEYS = 1_000;
const POOL_CALL_KEYS = 2_500;
const POOL_IN_FLIGHT = 8;

interface Row {
  test: string;
  emdb?: number;
  peer?: number;
  peerName: string;
  note?: string;
}

const args = parseArgs(process.argv.slice(2));
const records = intArg(args, 'records', 200_000);
const reads = intArg(args, 'reads', 500_000);
const seed = DEFAULT_SEED;
const keys = localKeys(makeKeys(seed, records));
const randomKey = (next: () => number): Buffer => keyAt(keys, pick(next, records));
const dirs = new Map<StoreAdapter, string>();

async function openStore<T extends StoreAdapter>(make: () => T | Promise<T>): Promise<T | string> {
  try {
    const store = await make();
    const dir = mkTempDir(`emdb-core-${store.name}-`);
    dirs.set(store, dir);
    await store.open(dir);
    return store;
  } catch (err) {
    return errorMessage(err);
  }
}

/** ops per second of `body`, which performs `ops` operations. */
async function opsPerSec(ops: number, body: () => Promise<void> | void): Promise<number> {
  const t0 = performance.now();
  await body();
  return (ops / (performance.now() - t0)) * 1000;
}

async function measure(store: StoreAdapter | string, fn: (s: StoreAdapter) => Promise<number>): Promise<number | undefined> {
  if (typeof store === 'string') return undefined;
  try {
    return await fn(store);
  } catch (err) {
    log(`  ${store.name}: ${errorMessage(err)}`);
    return undefined;
  }
}

const load = (s: StoreAdapter): Promise<number> => opsPerSec(records, () => s.bulkLoad(loadEntries(keys, seed, 0, records)));

const syncReads = (s: StoreAdapter): Promise<number> => {
  const next = mulberry32(seed + 2);
  return opsPerSec(reads, () => {
    for (let i = 0; i < reads; i++) s.getSync(randomKey(next));
  });
};

/** The store's fastest sync read (lmdb getBinaryFast: bytes reused by the next call). */
const fastSyncReads = (s: StoreAdapter): Promise<number> => {
  if (!s.getSyncFast) return syncReads(s);
  const next = mulberry32(seed + 2);
  return opsPerSec(reads, () => {
    for (let i = 0; i < reads; i++) s.getSyncFast!(randomKey(next));
  });
};

const asyncReads = (s: StoreAdapter): Promise<number> => {
  const next = mulberry32(seed + 3);
  return opsPerSec(reads, () => pipelined(reads, ASYNC_WINDOW, () => s.getAsync(randomKey(next))));
};

const manyReads = (s: StoreAdapter): Promise<number> => {
  const next = mulberry32(seed + 4);
  const calls = Math.floor(reads / GET_MANY_KEYS);
  return opsPerSec(calls * GET_MANY_KEYS, async () => {
    for (let c = 0; c < calls; c++) await s.getMany(Array.from({ length: GET_MANY_KEYS }, () => randomKey(next)));
  });
};

const poolReads = (s: StoreAdapter): Promise<number> => {
  const next = mulberry32(seed + 5);
  const calls = Math.floor(reads / POOL_CALL_KEYS);
  return opsPerSec(calls * POOL_CALL_KEYS, () =>
    pipelined(calls, POOL_IN_FLIGHT, () => s.getMany(Array.from({ length: POOL_CALL_KEYS }, () => randomKey(next)))),
  );
};

function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined) return '—';
  return a >= b ? `${(a / b).toFixed(2)}× faster` : `${(b / a).toFixed(2)}× slower`;
}

function printRows(rows: Row[]): void {
  const fmt = (v: number | undefined): string => (v === undefined ? 'n/a' : formatRate(v));
  const lines = [
    `emdb-js core micro benchmark — ${records.toLocaleString('en-US')} records, ${reads.toLocaleString('en-US')} reads per test, ${os.availableParallelism()} cores, Node ${process.version}`,
    '',
    '| test | emdb-js | peer | emdb-js vs peer | note |',
    '|---|--:|--:|--:|---|',
    ...rows.map((r) => `| ${r.test} | ${fmt(r.emdb)} | ${r.peerName}: ${fmt(r.peer)} | ${ratio(r.emdb, r.peer)} | ${r.note ?? ''} |`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function main(): Promise<void> {
  const poolReaders = Math.min(os.availableParallelism(), 8);
  const Emdb = await loadEmdb().catch((err: unknown) => errorMessage(err));
  const emdb = typeof Emdb === 'string' ? `emdb-js failed to load: ${Emdb}` : await openStore(() => new EmdbAdapter(Emdb, { readers: poolReaders }));
  const lmdb = await openStore(() => new LmdbAdapter());
  const level = await openStore(() => new ClassicLevelAdapter());
  for (const s of [emdb, lmdb, level]) if (typeof s === 'string') log(`missing: ${s}`);

  const rows: Row[] = [];
  log('load ...');
  rows.push({ test: 'load (emdb insertMany / lmdb transactionSync)', emdb: await measure(emdb, load), peer: await measure(lmdb, load), peerName: 'lmdb' });
  await measure(level, load);
  log('getSync ...');
  const emdbSync = await measure(emdb, syncReads);
  rows.push({ test: 'getSync / getBinary', emdb: emdbSync, peer: await measure(lmdb, syncReads), peerName: 'lmdb' });
  rows.push({ test: 'getSync / getBinaryFast (lmdb fastest)', emdb: emdbSync, peer: await measure(lmdb, fastSyncReads), peerName: 'lmdb getBinaryFast' });
  log('async get ...');
  const lmdbAsync = await measure(lmdb, asyncReads);
  rows.push({
    test: `async get, ${ASYNC_WINDOW.toLocaleString('en-US')} in flight`,
    emdb: await measure(emdb, asyncReads),
    peer: await measure(level, asyncReads),
    peerName: 'classic-level',
    note: lmdbAsync === undefined ? '' : `lmdb getAsync (experimental): ${formatRate(lmdbAsync)}`,
  });
  log('getMany ...');
  rows.push({ test: `getMany, ${GET_MANY_KEYS} keys/call`, emdb: await measure(emdb, manyReads), peer: await measure(lmdb, manyReads), peerName: 'lmdb' });
  log('reader pool ...');
  const poolN = await measure(emdb, poolReads);
  rows.push({ test: `reader pool: getMany ×${POOL_IN_FLIGHT} in flight, ${poolReaders} readers`, emdb: poolN, peer: await measure(lmdb, poolReads), peerName: 'lmdb getMany' });
  let pool1: number | undefined;
  if (typeof emdb !== 'string' && typeof Emdb !== 'string') {
    await emdb.close();
    const single = new EmdbAdapter(Emdb, { readers: 1 });
    await single.open(dirs.get(emdb)!);
    pool1 = await measure(single, poolReads);
    await single.close();
  }
  rows.push({ test: `reader pool scaling: ${poolReaders} readers vs 1 reader`, emdb: poolN, peer: pool1, peerName: 'emdb-js, 1 reader' });
  for (const s of [emdb, lmdb, level]) if (typeof s !== 'string') await s.close().catch(() => undefined);
  printRows(rows);
}

main()
  .catch((err: unknown) => {
    log(`core bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const d of dirs.values()) removeDir(d);
    process.exit();
  });
