/**
 * One producer thread of the group-commit bench: attaches to the database
 * through its handle, waits at the start line, then writes and flushes one
 * record at a time.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadEmdb } from './adapters/emdb-js.js';
import { errorMessage } from './util.js';
import { freshEntries, mulberry32 } from './workload.js';

export interface ProducerData {
  handle: unknown;
  producer: number;
  writes: number;
  start: SharedArrayBuffer;
}

export type ProducerMessage = { t: 'ready' } | { t: 'done'; ms: number } | { t: 'error'; message: string };

async function main(): Promise<void> {
  const data = workerData as ProducerData;
  const port = parentPort!;
  try {
    const Emdb = await loadEmdb();
    if (typeof Emdb.attach !== 'function') throw new Error('Emdb.attach is not in this build');
    const db = await Emdb.attach(data.handle);
    const entries = freshEntries(mulberry32(1000 + data.producer), data.writes);
    port.postMessage({ t: 'ready' } satisfies ProducerMessage);
    Atomics.wait(new Int32Array(data.start), 0, 0);
    const t0 = performance.now();
    for (const [k, v] of entries) {
      await db.insert(k, v);
      await db.flush();
    }
    const ms = performance.now() - t0;
    await db.close();
    port.postMessage({ t: 'done', ms } satisfies ProducerMessage);
  } catch (err) {
    port.postMessage({ t: 'error', message: errorMessage(err) } satisfies ProducerMessage);
  }
}

void main();
