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

  it('getMany gives the same answers inline, past the inline budget, and through the pool', async () => {
    const file = path.join(newDir(), 'both.emdb');
    await filled(file, 5000);
    const db = await Emdb.open(file, { readers: 2 });
    try {
      const pool = readPoolOf(db.handle().control)!;
      const keys = (n: number) => Array.from({ length: n }, (_, i) => `k${i}`).concat(['nope']);
      const expected = (n: number) => [...Array.from({ length: n }, (_, i) => `v${i}`), undefined];
      const many = async (n: number) => (await db.getMany(keys(n))).map((v) => v?.toString());
      // Well within the inline budget: all answered here, in this tick.
      expect(pool.ready).toBe(false);
      expect(await many(1000)).toEqual(expected(1000));
      const readsInline = (await db.stats()).reads;
      expect(readsInline).toBeGreaterThanOrEqual(1001);
      // Past the budget: the rest wait for the pool, which starts at once.
      expect(await many(5000)).toEqual(expected(5000));
      await pool.whenReady();
      expect(pool.ready).toBe(true);
      expect(await many(5000)).toEqual(expected(5000));
      // Every path counts its lookups as reads.
      expect((await db.stats()).reads - readsInline).toBeGreaterThanOrEqual(2 * 5001);
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
