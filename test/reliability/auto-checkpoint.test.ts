/**
 * The checkpoint advances on its own (issue 12, defect 6): without a call to
 * checkpoint() or close(), the tail hint reaches the durable LSN within about
 * a second of a flush, so the window in which damage cannot be told from crash
 * residue by the prefix CRC stays small. It is a header-slot write only: it
 * never makes durable a record the flush policy has not synced.
 *
 * No timing is asserted beyond "eventually" (polled, with a generous bound).
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Emdb, rmrf, tmpDir } from '../helpers/common.js';

async function until(cond: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

describe('automatic checkpoint', () => {
  let dir: string;
  beforeAll(() => (dir = tmpDir('emdb-auto-checkpoint-')));
  afterAll(() => rmrf(dir));

  it('moves the tail hint up to the durable LSN without checkpoint() or close(), and never past it', async () => {
    const db = await Emdb.open(path.join(dir, 'a.emdb'), { readers: 1 });
    try {
      const start = await db.stats();
      for (let i = 0; i < 100; i++) await db.insert(`k${i}`, `v${i}`);
      await db.flush();
      const atFlush = await db.stats();
      const flushed = atFlush.durableLsn;
      expect(flushed).toBeGreaterThan(start.tailHint);
      // Not yet durable under onEachFlush: the automatic checkpoint must not cover it.
      await db.insert('unflushed', 'x');
      expect(await until(async () => (await db.stats()).tailHint === flushed, 10_000)).toBe(true);
      const after = await db.stats();
      expect(after.durableLsn).toBe(flushed);
      expect(after.fileBytes).toBeGreaterThan(flushed);
      expect(after.lastCheckpointAt).toBeGreaterThan(start.lastCheckpointAt);
      expect(after.autoCheckpoints).toBeGreaterThanOrEqual(1);
      // Its fdatasync is reported there, not in the syncs that flush() and checkpoint() pay for.
      expect(after.syncs).toBe(atFlush.syncs);
    } finally {
      await db.close();
    }
  });
});
