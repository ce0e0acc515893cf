/**
 * Frame pool reads under constant eviction (rules F1–F5 in layout.ts): reader
 * threads copy random ranges out of a pool of 4 frames while this thread, as
 * the writer, reassigns frames to other pages as fast as it can. Every copy
 * that succeeds must hold exactly the bytes of the pages asked for (0 torn or
 * foreign bytes); with the closing version check planted away
 * (frame-no-version-check) the same run must return wrong bytes, which shows
 * the test can see a missing check.
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { FrameFiller, FRAME_BYTES, newPageTable } from '../../dist/src/shm/frame-pool.js';
import { FIXTURES } from '../helpers/common.js';
import { pageBytes, pagePattern } from '../helpers/frame-pattern.js';

const OWNERS = 2;
const PAGES = 16;

interface Tally {
  ok: number;
  missed: number;
  wrong: number;
}

async function hammer(mutant: string, ms: number): Promise<Tally> {
  const spec = FrameFiller.create(4 * FRAME_BYTES);
  const filler = new FrameFiller(spec);
  const tables = Array.from({ length: OWNERS }, () => newPageTable(PAGES * FRAME_BYTES));
  tables.forEach((t, i) => filler.adopt(i + 1, t.subarray(0, PAGES)));
  const images = tables.map((_, o) => Array.from({ length: PAGES }, (_, p) => pageBytes(o + 1, p, FRAME_BYTES)));
  const stop = new SharedArrayBuffer(4);
  const env = { ...process.env, EMDB_TEST_MUTANT: mutant };
  const readers = [1, 2].map(
    (seed) =>
      new Worker(path.join(FIXTURES, 'frame-reader.js'), {
        env,
        workerData: { spec, tables: tables.map((t) => t.buffer), stop, seed },
      }),
  );
  await Promise.all(readers.map((w) => new Promise((r) => w.once('online', r))));
  const tallies = readers.map((w) => new Promise<Tally>((resolve, reject) => (w.once('message', resolve), w.once('error', reject))));
  const until = performance.now() + ms;
  let n = 0;
  while (performance.now() < until) {
    const owner = 1 + (n % OWNERS);
    const page = (n * 7 + (n >> 3)) % PAGES;
    n++;
    if (tables[owner - 1]![page] !== 0) continue;
    filler.place(owner, page, images[owner - 1]![page]!);
  }
  Atomics.store(new Int32Array(stop), 0, 1);
  const all = await Promise.all(tallies);
  await Promise.all(readers.map((w) => w.terminate()));
  expect(filler.evictions).toBeGreaterThan(1000);
  return all.reduce((a, b) => ({ ok: a.ok + b.ok, missed: a.missed + b.missed, wrong: a.wrong + b.wrong }));
}

describe('frame pool under constant eviction', () => {
  it('never returns torn or foreign bytes', async () => {
    const t = await hammer('', 1500);
    expect(t.wrong).toBe(0);
    // Some copies must succeed for the check to mean anything; how many depends on the machine's load.
    expect(t.ok).toBeGreaterThan(20);
    expect(t.missed).toBeGreaterThan(0);
  });

  it('catches a reader that skips the closing version check', async () => {
    const t = await hammer('frame-no-version-check', 1500);
    expect(t.wrong).toBeGreaterThan(0);
  });

  it('keeps a page that readers keep using (CLOCK reference bits)', () => {
    const filler = new FrameFiller(FrameFiller.create(4 * FRAME_BYTES));
    const table = newPageTable(64 * FRAME_BYTES).subarray(0, 64);
    filler.adopt(1, table);
    filler.place(1, 0, pageBytes(1, 0, FRAME_BYTES));
    const dst = new Uint8Array(8);
    for (let page = 1; page < 40; page++) {
      expect(filler.copyOut(table, 1, 100, 8, dst, 0)).toBe(true);
      filler.place(1, page, pageBytes(1, page, FRAME_BYTES));
    }
    expect(table[0]).not.toBe(0);
    expect(Array.from(dst)).toEqual(Array.from({ length: 8 }, (_, i) => pagePattern(1, 0, 100 + i)));
    expect(filler.residentPages(1)).toBe(4);
  });

  it('copies a range that spans pages and misses one that is gone', () => {
    const filler = new FrameFiller(FrameFiller.create(2 * FRAME_BYTES));
    const table = newPageTable(8 * FRAME_BYTES).subarray(0, 8);
    filler.adopt(1, table);
    filler.place(1, 2, pageBytes(1, 2, FRAME_BYTES));
    filler.place(1, 3, pageBytes(1, 3, FRAME_BYTES));
    const dst = new Uint8Array(200);
    const lsn = 3 * FRAME_BYTES - 100;
    expect(filler.copyOut(table, 1, lsn, 200, dst, 0)).toBe(true);
    for (let i = 0; i < 200; i++) {
      const at = lsn + i;
      const page = Math.floor(at / FRAME_BYTES);
      expect(dst[i]).toBe(pagePattern(1, page, at - page * FRAME_BYTES));
    }
    filler.place(1, 5, pageBytes(1, 5, FRAME_BYTES));
    expect(filler.copyOut(table, 1, lsn, 200, dst, 0)).toBe(false);
    filler.release(1);
    expect(filler.residentPages(1)).toBe(0);
    expect(Array.from(table)).toEqual(new Array(8).fill(0));
  });
});
