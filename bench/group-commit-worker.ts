/**
 * One producer thread of the group-commit bench: attaches to the database
 * through its handle, waits at the start line, then writes and flushes one
 * record at a time, in one of two shapes:
 *  - 'together': insert and flush issued in the same tick, both awaited (the
 *    flush carries the pending write: one message, one reply);
 *  - 'sequential': await insert, then await flush (two round trips).
 * It reports how long it waited on inserts and on flushes.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadEmdb, type EmdbLike } from './adapters/emdb-js.js';
import { errorMessage } from './util.js';
import { freshEntries, mulberry32, type Entry } from './workload.js';

/** 'async': the producers are async loops on the opening thread (no worker threads), each in the 'together' form. */
export type ProducerShape = 'together' | 'sequential' | 'async';

export interface ProducerData {
  handle: unknown;
  producer: number;
  writes: number;
  /**
   * An in-memory database to warm up on first: `warmup` writes of the same shape
   * (its flushes sync nothing), so every thread runs compiled code when timed.
   */
  warmupHandle: unknown;
  warmup: number;
  shape: ProducerShape;
  start: SharedArrayBuffer;
}

export type ProducerMessage =
  | { t: 'ready' }
  | { t: 'done'; ms: number; insertWaitMs: number; flushWaitMs: number }
  | { t: 'error'; message: string };

export async function writeDurably(db: EmdbLike, entries: Entry[], shape: ProducerShape): Promise<{ insertWaitMs: number; flushWaitMs: number }> {
  let insertWaitMs = 0;
  let flushWaitMs = 0;
  for (const [k, v] of entries) {
    const a = performance.now();
    if (shape !== 'sequential') {
      await Promise.all([db.insert(k, v), db.flush()]);
      flushWaitMs += performance.now() - a;
    } else {
      await db.insert(k, v);
      const b = performance.now();
      insertWaitMs += b - a;
      await db.flush();
      flushWaitMs += performance.now() - b;
    }
  }
  return { insertWaitMs, flushWaitMs };
}

async function main(): Promise<void> {
  const data = workerData as ProducerData;
  const port = parentPort!;
  try {
    const Emdb = await loadEmdb();
    if (typeof Emdb.attach !== 'function') throw new Error('Emdb.attach is not in this build');
    const db = await Emdb.attach(data.handle);
    const entries = freshEntries(mulberry32(1000 + data.producer), data.warmup + data.writes);
    const scratch = await Emdb.attach(data.warmupHandle);
    await writeDurably(scratch, entries.slice(0, data.warmup), data.shape);
    await scratch.close();
    port.postMessage({ t: 'ready' } satisfies ProducerMessage);
    Atomics.wait(new Int32Array(data.start), 0, 0);
    const t0 = performance.now();
    const { insertWaitMs, flushWaitMs } = await writeDurably(db, entries.slice(data.warmup), data.shape);
    const ms = performance.now() - t0;
    await db.close();
    port.postMessage({ t: 'done', ms, insertWaitMs, flushWaitMs } satisfies ProducerMessage);
  } catch (err) {
    port.postMessage({ t: 'error', message: errorMessage(err) } satisfies ProducerMessage);
  }
}

// Also imported by group-commit.ts (for writeDurably): only a producer thread runs.
if (parentPort) void main();
