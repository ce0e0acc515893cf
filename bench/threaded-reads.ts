/**
 * Multi-thread random reads: T worker threads each open their own reader on
 * the store this thread has open, wait at a shared start line, and do
 * reads/T random sync reads. The time is from the start signal to the last
 * thread finishing (thread start-up and open are not timed).
 */
import { Worker } from 'node:worker_threads';
import type { StoreAdapter } from './adapters/types.js';
import type { ReadWorkerData, ReadWorkerMessage } from './read-worker.js';
import { settleable, withTimeout } from './util.js';

const THREAD_TIMEOUT_MS = 10 * 60_000;

export interface ThreadedReadResult {
  ms: number;
  reads: number;
  misses: number;
}

export async function threadedReads(
  adapter: StoreAdapter,
  keys: SharedArrayBuffer,
  keyCount: number,
  threads: number,
  totalReads: number,
  seed: number,
): Promise<ThreadedReadResult> {
  const spec = adapter.threadReaderSpec(); // throws NotApplicable when the store cannot share
  const start = new SharedArrayBuffer(4);
  const perThread = Math.floor(totalReads / threads);
  const workers: Worker[] = [];
  try {
    const ready: Promise<void>[] = [];
    const done: Promise<{ ms: number; misses: number }>[] = [];
    for (let t = 0; t < threads; t++) {
      const data: ReadWorkerData = { store: adapter.name, spec, keys, keyCount, reads: perThread, seed: seed + t * 7919, start };
      const worker = new Worker(new URL('./read-worker.js', import.meta.url), { workerData: data });
      workers.push(worker);
      const r = settleable<void>();
      const d = settleable<{ ms: number; misses: number }>();
      const fail = (e: Error): void => {
        r.reject(e);
        d.reject(e);
      };
      worker.on('message', (m: ReadWorkerMessage) => {
        if (m.t === 'ready') r.resolve();
        else if (m.t === 'done') d.resolve({ ms: m.ms, misses: m.misses });
        else fail(new Error(`reader thread: ${m.message}`));
      });
      worker.on('error', fail);
      worker.on('exit', (code) => fail(new Error(`reader thread exited with code ${code}`)));
      ready.push(r.promise);
      done.push(d.promise);
    }
    await withTimeout(Promise.all(ready), THREAD_TIMEOUT_MS, 'opening reader threads');
    const t0 = performance.now();
    Atomics.store(new Int32Array(start), 0, 1);
    Atomics.notify(new Int32Array(start), 0);
    const results = await withTimeout(Promise.all(done), THREAD_TIMEOUT_MS, 'reader threads');
    const ms = performance.now() - t0;
    return { ms, reads: perThread * threads, misses: results.reduce((a, r) => a + r.misses, 0) };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
