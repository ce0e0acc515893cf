/**
 * One reader thread of a multi-thread read phase: opens its own reader on the
 * store the parent has open (lmdb env, classic-level multithreading, sqlite
 * read-only connection, emdb-js Emdb.attach(handle)), waits for the start
 * signal, does its share of random sync reads and reports its time.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadAdapter } from './adapters/registry.js';
import type { StoreName } from './adapters/types.js';
import { errorMessage } from './util.js';
import { keyAt, localKeys, mulberry32, pick } from './workload.js';

export interface ReadWorkerData {
  store: StoreName;
  spec: unknown;
  keys: SharedArrayBuffer;
  keyCount: number;
  reads: number;
  seed: number;
  /** Int32 slot 0 becomes 1 when all threads may start. */
  start: SharedArrayBuffer;
}

export type ReadWorkerMessage =
  | { t: 'ready' }
  | { t: 'done'; ms: number; misses: number }
  | { t: 'error'; message: string };

async function main(): Promise<void> {
  const data = workerData as ReadWorkerData;
  const port = parentPort!;
  try {
    const loaded = await loadAdapter(data.store);
    if (!loaded.ok) throw new Error(loaded.reason);
    const reader = await loaded.adapter.openThreadReader(data.spec);
    const keys = localKeys(data.keys);
    const next = mulberry32(data.seed);
    port.postMessage({ t: 'ready' } satisfies ReadWorkerMessage);
    Atomics.wait(new Int32Array(data.start), 0, 0);
    let misses = 0;
    const t0 = performance.now();
    for (let i = 0; i < data.reads; i++) {
      if (reader.getSync(keyAt(keys, pick(next, data.keyCount))) === undefined) misses++;
    }
    const ms = performance.now() - t0;
    await reader.close();
    port.postMessage({ t: 'done', ms, misses } satisfies ReadWorkerMessage);
  } catch (err) {
    port.postMessage({ t: 'error', message: errorMessage(err) } satisfies ReadWorkerMessage);
  }
}

void main();
