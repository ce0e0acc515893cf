/**
 * Snapshot isolation of range iterators under load. An attached thread writes
 * one transaction per step (each also sets '#ver'), grows the hash index, and
 * compacts every 250 steps, with the sorted tail shrunk to 64 entries so runs
 * are flushed, merged and republished all the time. Meanwhile full scans run
 * on the main thread (rangeIter), in the reader pool (range()) and in another
 * attached thread; every scan must equal the model at the version it saw, and
 * that version must lie between what was acknowledged before the iterator was
 * created and what had been sent right after. Negative control: an iterator
 * that takes a fresh snapshot per chunk (a planted mutant) must be caught.
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testMutant } from '../../dist/src/mutants.js';
import { checkScan, Ctl, preload } from '../../dist/test/fixtures/range-load.js';
import { Emdb, FIXTURES, tempDirs } from '../helpers/common.js';

type Done = { t: 'done'; scans?: number; errors?: string[]; versions?: number; compactions?: number };
const finished = (w: Worker): Promise<Done> =>
  new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });

async function mainScan(db: Awaited<ReturnType<typeof Emdb.open<Buffer>>>, ctl: Int32Array, via: 'iter' | 'pool', slow = false): Promise<string> {
  const acked = Atomics.load(ctl, Ctl.ACKED);
  const entries: [string, string][] = [];
  if (via === 'pool') {
    const pending = db.range(null, null);
    const sent = Atomics.load(ctl, Ctl.SENT);
    for (const [k, v] of await pending) entries.push([k.toString(), v.toString()]);
    return checkScan(entries, acked, sent);
  }
  const it = db.rangeIter({});
  const sent = Atomics.load(ctl, Ctl.SENT);
  for await (const [k, v] of it) {
    entries.push([k.toString(), v.toString()]);
    // The negative control pauses longer, so writes surely land between its chunks.
    if (entries.length % (slow ? 25 : 100) === 0) await new Promise((r) => (slow ? setTimeout(r, 1) : setImmediate(r)));
  }
  return checkScan(entries, acked, sent);
}

describe('range iterators read one snapshot under concurrent writes, growth and compaction', () => {
  const newDir = tempDirs();
  beforeAll(() => {
    process.env.EMDB_JS_SORTED_TAIL_MAX = '64';
    // Merges of more than ~1,000 entries then take several steps, with reads and writes between them.
    process.env.EMDB_JS_SORTED_MERGE_STEP_MS = '0';
  });
  afterAll(() => {
    delete process.env.EMDB_JS_SORTED_TAIL_MAX;
    delete process.env.EMDB_JS_SORTED_MERGE_STEP_MS;
    testMutant.name = '';
  });

  async function run(steps: number, mutant: string): Promise<{ main: string[]; pool: string[]; worker: Done; writer: Done; mainScans: number }> {
    const db = await Emdb.open<Buffer>(path.join(newDir(), 'iso.emdb'), { rangeScans: true, readers: 2 });
    await db.insertMany(preload());
    const ctl = new Int32Array(new SharedArrayBuffer(16));
    const handle = db.handle();
    const scanner = new Worker(path.join(FIXTURES, 'range-scanner.js'), { workerData: { handle, ctl: ctl.buffer } });
    const writer = new Worker(path.join(FIXTURES, 'range-writer.js'), { workerData: { handle, ctl: ctl.buffer, steps } });
    const scannerDone = finished(scanner);
    const writerDone = finished(writer);
    const main: string[] = [];
    const pool: string[] = [];
    let mainScans = 0;
    testMutant.name = mutant;
    try {
      while (Atomics.load(ctl, Ctl.STOP) === 0) {
        const a = await mainScan(db, ctl, 'iter', mutant !== '');
        if (a) main.push(a);
        if (!mutant) {
          const b = await mainScan(db, ctl, 'pool');
          if (b) pool.push(b);
        }
        mainScans++;
      }
    } finally {
      testMutant.name = '';
    }
    const [worker, w] = await Promise.all([scannerDone, writerDone]);
    await db.close();
    return { main, pool, worker, writer: w, mainScans };
  }

  it('every scan equals the model at its version, on the main thread, the pool and an attached thread', async () => {
    const r = await run(1500, '');
    console.log(`[range-isolation] main scans ${r.mainScans} (iter + pool each), attached scans ${r.worker.scans} over ${r.worker.versions} versions, ${r.writer.compactions} compactions, violations ${r.main.length + r.pool.length + (r.worker.errors?.length ?? 0)}`);
    expect(r.writer.compactions).toBe(6);
    expect(r.main).toEqual([]);
    expect(r.pool).toEqual([]);
    expect(r.worker.errors).toEqual([]);
    // The scans overlapped the writes: they saw many different versions.
    expect(r.mainScans).toBeGreaterThan(3);
    expect(r.worker.scans).toBeGreaterThan(3);
    expect(r.worker.versions).toBeGreaterThan(3);
  }, 180_000);

  it('negative control: an iterator that re-snapshots per chunk is caught', async () => {
    const r = await run(1500, 'resnapshot');
    console.log(`[range-isolation] negative control: ${r.main.length} of ${r.mainScans} main-thread scans caught; first: ${r.main[0]}`);
    expect(r.main.length).toBeGreaterThan(0);
  }, 180_000);
});
