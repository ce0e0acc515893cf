import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, tempDirs } from '../helpers/common.js';

/**
 * Flush-ahead on a real database (core/flush-ahead.ts): a thread that writes
 * then flushes in turn gets its next write synced before that write resolves
 * (stats().syncs has moved before flush() is called, so the flush() needs no
 * round trip), while writes that are not followed by a flush cost no sync.
 * Counted with stats().syncs, so nothing is timed.
 */
describe('flush-ahead: a write-then-flush loop syncs with the write', () => {
  const newDir = tempDirs();

  for (const flushPolicy of [{ kind: 'onEachFlush' as const }, { kind: 'group' as const, maxWaitMs: 5, maxBatch: 64 }]) {
    it(`${flushPolicy.kind}: the third write is durable when it resolves; a burst of unflushed writes adds at most one sync`, async () => {
      const file = path.join(newDir(), 'ahead.emdb');
      const db = await Emdb.open(file, { readers: 1, flushPolicy });
      for (let i = 0; i < 2; i++) {
        await db.insert(`warm:${i}`, 'v');
        await db.flush();
      }
      const before = (await db.stats()).syncs;
      await db.insert('ahead', 'v'); // stats() above cleared the cover, but not the prediction
      const atWrite = (await db.stats()).syncs;
      expect(atWrite).toBe(before + 1);
      await db.flush();
      expect((await db.stats()).syncs).toBe(atWrite); // stats() sent nothing that needed a sync

      // Writes with no flush between them: the prediction stops after the first.
      const burstBefore = (await db.stats()).syncs;
      for (let i = 0; i < 20; i++) await db.insert(`burst:${i}`, 'v');
      expect((await db.stats()).syncs - burstBefore).toBeLessThanOrEqual(1);
      await db.close();

      const again = await Emdb.open(file, { readers: 1 });
      expect(String(await again.get('ahead'))).toBe('v');
      expect(String(await again.get('burst:19'))).toBe('v');
      await again.close();
    });
  }

  it('insertMany + flush in turn: the chunk carries the sync', async () => {
    const db = await Emdb.open(path.join(newDir(), 'bulk.emdb'), { readers: 1 });
    for (let round = 0; round < 2; round++) {
      await db.insertMany(Array.from({ length: 100 }, (_, i) => [`r${round}:${i}`, 'v'] as [string, string]));
      await db.flush();
    }
    const before = (await db.stats()).syncs;
    await db.insertMany(Array.from({ length: 100 }, (_, i) => [`r2:${i}`, 'v'] as [string, string]));
    expect((await db.stats()).syncs).toBe(before + 1);
    await db.close();
  });
});
