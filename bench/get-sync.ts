/**
 * getSync with the keys a service really has, against the shared-memory copy
 * limit and lmdb-js's two sync reads, in one process and one run:
 *
 *   key kinds  views       a subarray of one key table, made per read (what run.js and core.js do)
 *              randomBytes one Buffer per key from crypto.randomBytes(24), filled with the key
 *              pooled      one Buffer.from(view) per key (8 KiB pool slabs, like keys from a socket)
 *              strings     'sess:' + 32 hex digits, one string per key (string keys from requests)
 *   readers    emdb-js getSync (an owned copy), lmdb-js getBinary (an owned copy) and
 *              getBinaryFast (bytes valid until the next call: lmdb-js's fastest sync read)
 *   limit      150-byte copies out of a SharedArrayBuffer into new Buffers (limits.ts)
 *
 * Every round measures the limit and every reader with the same random index
 * sequence, back to back; ratios are taken inside a round, then the median over
 * rounds is printed, so a busy machine moves the rates but less the ratios.
 * Then random reads on 1, 2 and 4 threads (threaded-reads.ts) for emdb-js and lmdb-js.
 *
 *   node dist/bench/get-sync.js [--records 1000000] [--reads 500000] [--rounds 5] [--threads 1,2,4] [--skip-keys]
 * --threads 0 skips the thread rows. The default size holds 2 M records in each
 * store plus 3 M key objects: about 2 GiB of RAM.
 */
import crypto from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { EmdbAdapter, loadEmdb, type EmdbLike } from './adapters/emdb-js.js';
import { LmdbAdapter } from './adapters/lmdb.js';
import type { StoreAdapter } from './adapters/types.js';
import { formatRate } from './format.js';
import { memcpyRate } from './limits.js';
import { threadedReads } from './threaded-reads.js';
import { errorMessage, intArg, log, mkTempDir, parseArgs, removeDir } from './util.js';
import { DEFAULT_SEED, KEY_BYTES, keyAt, loadEntries, localKeys, makeKeys, mulberry32, pick, valueFor } from './workload.js';

type Key = Uint8Array | string;
type Reader = (key: Key) => Uint8Array | undefined;

interface KeyKind {
  name: string;
  /** The key of loaded record i, as this kind hands it to a store. */
  key: (i: number) => Key;
}

const args = parseArgs(process.argv.slice(2));
const records = intArg(args, 'records', 1_000_000);
const reads = intArg(args, 'reads', 500_000);
const rounds = intArg(args, 'rounds', 5);
const threadList = (args.get('threads') ?? '1,2,4').split(',').map(Number).filter((t) => Number.isInteger(t) && t > 0);
const seed = DEFAULT_SEED;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const loadAvg = (): string => os.loadavg().map((x) => x.toFixed(2)).join(' ');

function keyKinds(table: Buffer): KeyKind[] {
  const random = Array.from({ length: records }, (_, i) => {
    const b = crypto.randomBytes(KEY_BYTES);
    keyAt(table, i).copy(b);
    return b;
  });
  const pooled = Array.from({ length: records }, (_, i) => Buffer.from(keyAt(table, i)));
  const strings = Array.from({ length: records }, (_, i) => `sess:${table.toString('hex', i * KEY_BYTES, i * KEY_BYTES + 16)}`);
  return [
    { name: 'views', key: (i) => keyAt(table, i) },
    { name: 'randomBytes', key: (i) => random[i]! },
    { name: 'pooled', key: (i) => pooled[i]! },
    { name: 'strings', key: (i) => strings[i]! },
  ];
}

/** Reads per second of `read` over `order`, with the key of each index made by `kind`. */
function rate(order: Int32Array, kind: KeyKind, read: Reader): number {
  let misses = 0;
  const t0 = performance.now();
  for (let i = 0; i < order.length; i++) if (read(kind.key(order[i]!)) === undefined) misses++;
  const ms = performance.now() - t0;
  if (misses > 0) throw new Error(`${kind.name}: ${misses} misses`);
  return (order.length / ms) * 1000;
}

interface Cell {
  emdb: number[];
  lmdb: number[];
  lmdbFast: number[];
  limit: number[];
}

async function keyKindRows(dir: string): Promise<void> {
  const Emdb = await loadEmdb();
  const table = localKeys(makeKeys(seed, records));
  const kinds = keyKinds(table);
  const strings = kinds.find((k) => k.name === 'strings')!;
  log(`loading ${records.toLocaleString('en-US')} records under binary and under string keys ...`);
  const emdb = (await Emdb.open(path.join(dir, 'emdb'))) as EmdbLike;
  await emdb.insertMany(loadEntries(table, seed, 0, records));
  await emdb.insertMany((function* () {
    for (let i = 0; i < records; i++) yield [strings.key(i) as unknown as Uint8Array, valueFor(seed, i)] as const;
  })());
  await emdb.flush();
  const root: RootDatabase<Buffer, Buffer> = open<Buffer, Buffer>({ path: path.join(dir, 'lmdb'), encoding: 'binary', keyEncoding: 'binary' });
  const named: Database<Buffer, string> = root.openDB<Buffer, string>({ name: 'strings', encoding: 'binary' });
  root.transactionSync(() => {
    for (let i = 0; i < records; i++) {
      root.putSync(keyAt(table, i), valueFor(seed, i));
      named.putSync(strings.key(i) as string, valueFor(seed, i));
    }
  });
  await root.flushed;
  const lmdbFor = (kind: KeyKind, fast: boolean): Reader => {
    if (kind === strings) return fast ? (k) => named.getBinaryFast(k as string) : (k) => named.getBinary(k as string);
    return fast ? (k) => root.getBinaryFast(k as Buffer) : (k) => root.getBinary(k as Buffer);
  };
  const cells = new Map<string, Cell>(kinds.map((k) => [k.name, { emdb: [], lmdb: [], lmdbFast: [], limit: [] }]));
  const next = mulberry32(seed + 2);
  log(`load average before reads: ${loadAvg()}`);
  for (let r = 0; r < rounds; r++) {
    const order = Int32Array.from({ length: reads }, () => pick(next, records));
    for (const kind of kinds) {
      const cell = cells.get(kind.name)!;
      cell.limit.push(memcpyRate(reads));
      cell.emdb.push(rate(order, kind, (k) => emdb.getSync(k)));
      cell.lmdb.push(rate(order, kind, lmdbFor(kind, false)));
      cell.lmdbFast.push(rate(order, kind, lmdbFor(kind, true)));
    }
    log(`  round ${r + 1}/${rounds} done (load ${loadAvg()})`);
  }
  await emdb.close();
  await root.close();
  const lines = [
    `getSync by key kind — ${records.toLocaleString('en-US')} records under each key kind (24-byte binary keys, 37-char string keys), 150-byte values, ` +
      `${reads.toLocaleString('en-US')} random reads × ${rounds} rounds, median; ${os.availableParallelism()} cores, Node ${process.version}, load ${loadAvg()} at the end`,
    '',
    '| keys | emdb-js getSync | lmdb-js getBinary | lmdb-js getBinaryFast | copy limit | emdb-js / limit | emdb-js / getBinaryFast | emdb-js / getBinary |',
    '|---|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const kind of kinds) {
    const c = cells.get(kind.name)!;
    const ratio = (a: number[], b: number[]): string => `${median(a.map((x, i) => x / b[i]!)).toFixed(2)}×`;
    lines.push(
      `| ${kind.name} | ${formatRate(median(c.emdb))} | ${formatRate(median(c.lmdb))} | ${formatRate(median(c.lmdbFast))} | ${formatRate(median(c.limit))} | ` +
        `${ratio(c.emdb, c.limit)} | ${ratio(c.emdb, c.lmdbFast)} | ${ratio(c.emdb, c.lmdb)} |`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n\n`);
}

async function threadRows(): Promise<void> {
  if (threadList.length === 0) return;
  const Emdb = await loadEmdb();
  const keys = makeKeys(seed, records);
  const table = localKeys(keys);
  const stores: StoreAdapter[] = [new EmdbAdapter(Emdb, { readers: 1 }), new LmdbAdapter()];
  const lines = [
    `random sync reads on T threads (views keys, ${reads.toLocaleString('en-US')} reads in all, ${os.availableParallelism()} cores; load ${loadAvg()} at the start)`,
    '',
    `| store | ${threadList.map((t) => `${t} thread${t > 1 ? 's' : ''}`).join(' | ')} | ${threadList.slice(1).map((t) => `${t} vs ${threadList[0]}`).join(' | ')} |`,
    `|---|${threadList.map(() => '--:').join('|')}|${threadList.slice(1).map(() => '--:').join('|')}|`,
  ];
  for (const store of stores) {
    const dir = mkTempDir(`emdb-getsync-threads-${store.name}-`);
    try {
      await store.open(dir);
      await store.bulkLoad(loadEntries(table, seed, 0, records));
      const per: number[] = [];
      for (const t of threadList) {
        const runs: number[] = [];
        for (let r = 0; r < Math.max(1, Math.min(rounds, 3)); r++) {
          const res = await threadedReads(store, keys, records, t, reads, seed + 17 * r);
          if (res.misses > 0) throw new Error(`${store.name}: ${res.misses} misses on ${t} threads`);
          runs.push((res.reads / res.ms) * 1000);
        }
        per.push(median(runs));
      }
      lines.push(`| ${store.name} | ${per.map(formatRate).join(' | ')} | ${per.slice(1).map((p) => `${(p / per[0]!).toFixed(2)}×`).join(' | ')} |`);
    } catch (err) {
      lines.push(`| ${store.name} | failed: ${errorMessage(err)} |`);
    } finally {
      await store.close().catch(() => undefined);
      removeDir(dir);
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function main(): Promise<void> {
  const dir = mkTempDir('emdb-getsync-');
  try {
    if (!args.has('skip-keys')) await keyKindRows(dir);
  } finally {
    removeDir(dir);
  }
  await threadRows();
}

main()
  .catch((err: unknown) => {
    log(`get-sync bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exitCode = 1;
  })
  .finally(() => process.exit());
