/**
 * Where a durable write's time goes: the disk's append + fdatasync latency,
 * then, for the opening thread and for a worker attached with Emdb.attach, the
 * round trip of an awaited insert, of a flush with nothing new to sync, of an
 * insert followed by an awaited flush, and of an insert and a flush issued in
 * the same tick (one message to the writer); then, on the opening thread, both
 * kinds of durable write under each flush policy. Medians and p90 in microseconds.
 * Run alone: node dist/bench/durable-latency.js [--iterations 300]
 */
import fs from 'node:fs';
import path from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { BENCH_GROUP_POLICY, loadEmdb, type EmdbLike, type FlushPolicy } from './adapters/emdb-js.js';
import { intArg, isMain, log, mkTempDir, parseArgs, removeDir } from './util.js';
import { freshEntries, mulberry32 } from './workload.js';
import { durableSingle, type DurableSingle } from './durable-single.js';

export interface LatencyStats {
  medianUs: number;
  p90Us: number;
}

export interface RoundTrips {
  insert: LatencyStats;
  flushNothingNew: LatencyStats;
  insertThenFlush: LatencyStats;
  insertWithFlush: LatencyStats;
}

function summarise(samples: number[]): LatencyStats {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))]! * 1000);
  return { medianUs: at(0.5), p90Us: at(0.9) };
}

/** 100-byte append + fdatasync, the unit cost every durable write pays at least once. */
export function appendSyncLatency(dir: string, iterations: number): LatencyStats {
  const file = path.join(dir, 'sync-probe.bin');
  const fd = fs.openSync(file, 'w');
  const record = Buffer.alloc(100, 0x5a);
  const samples: number[] = [];
  try {
    for (let i = 0; i < iterations; i++) {
      const t0 = performance.now();
      fs.writeSync(fd, record, 0, record.length, i * record.length);
      fs.fdatasyncSync(fd);
      samples.push(performance.now() - t0);
    }
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
  return summarise(samples);
}

async function time(iterations: number, op: (i: number) => Promise<unknown>): Promise<LatencyStats> {
  const samples: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    await op(i);
    samples.push(performance.now() - t0);
  }
  return summarise(samples);
}

/** The four round trips, on whatever thread `db` lives on. */
export async function roundTrips(db: EmdbLike, iterations: number, seed: number): Promise<RoundTrips> {
  const entries = freshEntries(mulberry32(seed), iterations * 3);
  const e = (i: number): readonly [Uint8Array, Uint8Array] => entries[i]!;
  const insert = await time(iterations, (i) => db.insert(...e(i)));
  await db.flush();
  const flushNothingNew = await time(iterations, () => db.flush());
  const insertThenFlush = await time(iterations, async (i) => {
    await db.insert(...e(iterations + i));
    await db.flush();
  });
  const insertWithFlush = await time(iterations, (i) => Promise.all([db.insert(...e(2 * iterations + i)), db.flush()]));
  return { insert, flushNothingNew, insertThenFlush, insertWithFlush };
}

async function attachedRoundTrips(handle: unknown, iterations: number): Promise<RoundTrips> {
  const worker = new Worker(new URL(import.meta.url), { workerData: { handle, iterations } });
  return new Promise((resolve, reject) => {
    worker.once('message', (m: RoundTrips | { error: string }) => ('error' in m ? reject(new Error(m.error)) : resolve(m)));
    worker.once('error', reject);
  });
}

export interface PolicyLatency {
  policy: string;
  insertThenFlush: LatencyStats;
  insertWithFlush: LatencyStats;
}

export interface DurableLatency {
  appendSync: LatencyStats;
  mainThread: RoundTrips;
  attached: RoundTrips | { error: string };
  /** One producer on the opening thread, each durable write awaited, per flush policy. */
  perPolicy?: PolicyLatency[];
  /** Durable single writes against the fdatasync limit and better-sqlite3, in one run (durable-single.ts). */
  single?: DurableSingle | { error: string };
}

const POLICIES: [string, FlushPolicy][] = [
  ['onEachFlush', { kind: 'onEachFlush' }],
  ['group (maxWaitMs 1, maxBatch 8)', BENCH_GROUP_POLICY],
  ['writeThrough', { kind: 'writeThrough' }],
];

export async function durableLatency(iterations: number): Promise<DurableLatency> {
  const Emdb = await loadEmdb();
  const dir = mkTempDir('emdb-bench-latency-');
  try {
    const appendSync = appendSyncLatency(dir, iterations);
    const db = await Emdb.open(path.join(dir, 'latency.emdb'), { flushPolicy: { kind: 'onEachFlush' }, readers: 1 });
    try {
      log('durable latency: main thread ...');
      const mainThread = await roundTrips(db, iterations, 1);
      log('durable latency: attached worker ...');
      const attached = typeof db.handle === 'function'
        ? await attachedRoundTrips(db.handle(), iterations).catch((err: unknown) => ({ error: String(err) }))
        : { error: 'db.handle() is not in this build' };
      await db.close();
      const perPolicy: PolicyLatency[] = [];
      for (const [name, flushPolicy] of POLICIES) {
        log(`durable latency: ${name} ...`);
        const pdb = await Emdb.open(path.join(dir, `${flushPolicy.kind}.emdb`), { flushPolicy, readers: 1 });
        try {
          const r = await roundTrips(pdb, iterations, 3);
          perPolicy.push({ policy: name, insertThenFlush: r.insertThenFlush, insertWithFlush: r.insertWithFlush });
        } finally {
          await pdb.close();
        }
      }
      log('durable latency: single writes vs the fdatasync limit and better-sqlite3 ...');
      const single = await durableSingle(Math.max(iterations, 500), 5).catch((err: unknown) => ({ error: String(err) }));
      return { appendSync, mainThread, attached, perPolicy, single };
    } finally {
      await db.close();
    }
  } finally {
    removeDir(dir);
  }
}

if (!isMainThread && (workerData as { handle?: unknown } | null)?.handle !== undefined) {
  const { handle, iterations } = workerData as { handle: unknown; iterations: number };
  const Emdb = await loadEmdb();
  try {
    const db = await Emdb.attach!(handle);
    const result = await roundTrips(db, iterations, 2);
    await db.close();
    parentPort!.postMessage(result);
  } catch (err) {
    parentPort!.postMessage({ error: String(err) });
  }
} else if (isMain(import.meta.url)) {
  const args = parseArgs(process.argv.slice(2));
  const result = await durableLatency(intArg(args, 'iterations', 300));
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
}
