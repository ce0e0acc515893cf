/**
 * Lookups through the frame pool (src/shm/frame-records.ts): the probe's key
 * comparison and the value copy read resident pages under their version and
 * everything else from the file, checked. With no page resident, every page
 * resident, and on two threads while this thread, as the writer, keeps
 * reassigning a pool of 4 frames: every lookup finds its key and returns the
 * exact value (records of 70 KB span pages, others cross page ends).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { FrameFiller, FRAME_BYTES, newPageTable } from '../../dist/src/shm/frame-pool.js';
import { FrameRecords } from '../../dist/src/shm/frame-records.js';
import { hashKey } from '../../dist/src/shm/hash.js';
import { IndexView } from '../../dist/src/shm/index-table.js';
import { RecordFetch, newGenerationFile } from '../../dist/src/shm/record-fetch.js';
import { FIXTURES, tempDirs } from '../helpers/common.js';
import { keyOf, valueMismatch, writeFrameLog } from '../helpers/frame-log.js';

const dirs = tempDirs();
const COUNT = 3000;

function setup(frames: number) {
  const file = path.join(dirs(), 'log');
  const log = writeFrameLog(file, COUNT);
  const fd = fs.openSync(file, 'r');
  const pages = Math.ceil(log.bytes.length / FRAME_BYTES);
  const spec = FrameFiller.create(frames * FRAME_BYTES);
  const filler = new FrameFiller(spec);
  const table = newPageTable(log.bytes.length).subarray(0, pages);
  filler.adopt(1, table);
  const place = (p: number) => filler.place(1, p, log.bytes.subarray(p * FRAME_BYTES, (p + 1) * FRAME_BYTES));
  return { log, fd, pages, spec, filler, table, place, gen: newGenerationFile(fd) };
}

function lookupAll(s: ReturnType<typeof setup>): FrameRecords {
  const records = new FrameRecords(s.filler, s.table, 1, s.gen, new RecordFetch());
  const view = new IndexView(s.log.index);
  for (let i = 0; i < COUNT; i++) {
    const key = keyOf(i);
    expect(view.find(records, 0, key, 0, key.length, hashKey(0, key, 0, key.length))).toBe(s.log.offsets[i]);
    expect(valueMismatch(i, records.copyValue())).toBe(-1);
  }
  const absent = Buffer.from('absent');
  expect(view.find(records, 0, absent, 0, absent.length, hashKey(0, absent, 0, absent.length))).toBe(-1);
  return records;
}

describe('lookups through the frame pool', () => {
  it('serve every key from the file when no page is resident', () => {
    const s = setup(4);
    const r = lookupAll(s);
    expect(r.hits).toBe(0);
    fs.closeSync(s.fd);
  });

  it('serve every key from frames when every page is resident', () => {
    const s = setup(128);
    expect(s.pages).toBeLessThan(128);
    for (let p = 0; p < s.pages; p++) s.place(p);
    const r = lookupAll(s);
    expect(r.hits).toBeGreaterThan(COUNT - COUNT / 10);
    // Only records whose header and key cross a page end, and values spanning pages that were all resident, avoid a pread.
    expect(r.misses).toBeLessThan(COUNT / 10);
    fs.closeSync(s.fd);
  });

  it('return exact values on two threads under constant eviction', async () => {
    const s = setup(4);
    const stop = new SharedArrayBuffer(4);
    const workers = [7, 11].map(
      (seed) =>
        new Worker(path.join(FIXTURES, 'frame-lookup.js'), {
          workerData: { spec: s.spec, table: s.table.buffer, file: s.gen.buffer, index: s.log.index, count: COUNT, stop, seed },
        }),
    );
    await Promise.all(workers.map((w) => new Promise((r) => w.once('online', r))));
    const replies = workers.map((w) => new Promise<{ ok: number; wrong: number; hits: number; misses: number }>((res, rej) => (w.once('message', res), w.once('error', rej))));
    const until = performance.now() + 1500;
    for (let n = 0; performance.now() < until; n++) {
      const p = (n * 13) % s.pages;
      if (s.table[p] === 0) s.place(p);
    }
    Atomics.store(new Int32Array(stop), 0, 1);
    const all = await Promise.all(replies);
    await Promise.all(workers.map((w) => w.terminate()));
    fs.closeSync(s.fd);
    expect(s.filler.evictions).toBeGreaterThan(100);
    for (const r of all) {
      expect(r.wrong).toBe(0);
      expect(r.ok).toBeGreaterThan(20);
      expect(r.hits).toBeGreaterThan(0);
      expect(r.misses).toBeGreaterThan(0);
    }
  });
});
