import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, tempDirs } from '../helpers/common.js';

/**
 * Flushes that reach the writer together share one fdatasync under
 * onEachFlush (writer/marked-write.ts): eight async producers that each write
 * and flush in the same tick send one batch with eight marks, and the writer
 * syncs once for all of them instead of once per mark. Counted with
 * stats().syncs, so nothing is timed; every write is read back after a reopen.
 */
describe('the flushes of one tick share a sync', () => {
  const newDir = tempDirs();

  for (const flushPolicy of [{ kind: 'onEachFlush' as const }, { kind: 'group' as const, maxWaitMs: 50, maxBatch: 8 }]) {
  it(`${flushPolicy.kind}: 8 producers × (insert + flush in one tick), 5 rounds: one sync per round, every write durable`, async () => {
    const file = path.join(newDir(), 'share.emdb');
    const db = await Emdb.open(file, { readers: 1, flushPolicy });
    await db.insert('warm', 'v');
    await db.flush();
    for (let round = 0; round < 5; round++) {
      const before = (await db.stats()).syncs;
      await Promise.all(Array.from({ length: 8 }, (_, p) => Promise.all([db.insert(`r${round}:p${p}`, `v${round}`), db.flush()])));
      expect((await db.stats()).syncs - before).toBe(1);
    }
    await db.close();

    const again = await Emdb.open(file, { readers: 1 });
    for (let round = 0; round < 5; round++) {
      for (let p = 0; p < 8; p++) expect(String(await again.get(`r${round}:p${p}`))).toBe(`v${round}`);
    }
    await again.close();
  });
  }
});
