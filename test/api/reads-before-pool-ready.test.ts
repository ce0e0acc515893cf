import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { readPoolOf } from '../../dist/src/core/read-pool.js';
import { Emdb, ErrorCode, rejectsWithCode, tempDirs } from '../helpers/common.js';

/**
 * The reader pool takes tens of ms to start; async reads made before it has a
 * thread up are answered on the opening thread (core/read-pool.ts), and once it
 * is up they go to the pool. Both phases must give the same answers.
 */
describe('async reads before the reader pool is ready', () => {
  const newDir = tempDirs();

  async function filled(file: string, n: number, options = {}): Promise<void> {
    const db = await Emdb.open(file, options);
    for (let i = 0; i < n; i++) void db.insert(`k${i}`, Buffer.from(`v${i}`));
    await db.flush();
    await db.close();
  }

  it('the first get after open resolves without waiting for a reader thread', async () => {
    const file = path.join(newDir(), 'first.emdb');
    await filled(file, 100);
    const db = await Emdb.open(file, { readers: 2 });
    try {
      const pool = readPoolOf(db.handle().control)!;
      expect(pool.ready).toBe(false);
      // A reader thread cannot start and answer within the same macrotask: if the
      // get waited for the pool, the immediate would run first.
      let immediateRan = false;
      setImmediate(() => (immediateRan = true));
      const value = await db.get('k7');
      expect(immediateRan).toBe(false);
      expect(value?.toString()).toBe('v7');
      expect(await db.get('absent')).toBeUndefined();
      // The first read starts the pool (a little later, on its own); reads go there once a thread answered.
      await vi.waitFor(() => expect(pool.ready).toBe(true), { timeout: 20_000, interval: 10 });
      expect((await db.get('k7'))?.toString()).toBe('v7');
    } finally {
      await db.close();
    }
  });

  it('get, getMany, iteration and range give the same answers inline and through the pool', async () => {
    const file = path.join(newDir(), 'both.emdb');
    await filled(file, 3000, { rangeScans: true });
    const db = await Emdb.open(file, { readers: 2, rangeScans: true });
    try {
      const pool = readPoolOf(db.handle().control)!;
      const keys = Array.from({ length: 3000 }, (_, i) => `k${i}`).concat(['nope']);
      const read = async () => ({
        many: (await db.getMany(keys)).map((v) => v?.toString()),
        iter: (await collect(db.iter())).length,
        range: (await db.range('k1', 'k2')).map(([k]) => k.toString()),
        stats: (await db.stats()).reads,
      });
      // getMany's lookups are all made in this tick, long before a reader thread can be up: inline.
      expect(pool.ready).toBe(false);
      const inline = await read();
      await pool.whenReady();
      const pooled = await read();
      expect(pooled.many).toEqual(inline.many);
      expect(pooled.iter).toBe(inline.iter);
      expect(pooled.iter).toBe(3000);
      expect(pooled.range).toEqual(inline.range);
      expect(inline.many[2999]).toBe('v2999');
      expect(inline.many[3000]).toBeUndefined();
      // Inline lookups count as reads, as the pool's do.
      expect(inline.stats).toBeGreaterThanOrEqual(3001);
      expect(pooled.stats - inline.stats).toBeGreaterThanOrEqual(3001);
      // Writes made after the pool is up are seen there.
      await db.insert('late', Buffer.from('x'));
      expect((await db.get('late'))?.toString()).toBe('x');
    } finally {
      await db.close();
    }
  });

  it('a write resolved before the pool is ready is read back inline; close during the pool start is clean', async () => {
    const db = await Emdb.open(path.join(newDir(), 'ryw.emdb'), { readers: 1 });
    const pool = readPoolOf(db.handle().control)!;
    await db.insert('a', Buffer.from('1'));
    expect((await db.get('a'))?.toString()).toBe('1');
    expect(pool.ready).toBe(false);
    // Close while the pool starts: it must neither hang nor throw, and the warm-up settles.
    const warming = pool.whenReady();
    await db.close();
    await rejectsWithCode(() => db.get('a'), ErrorCode.CLOSED);
    await warming;
  });
});

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
