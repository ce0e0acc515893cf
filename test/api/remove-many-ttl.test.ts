/**
 * removeMany and TTL'd keys: a key whose deadline passed (not swept yet) counts
 * as not existing, as remove() resolves false for it, and is removed all the
 * same; a key with a deadline still ahead counts and is removed.
 */
import { describe, expect, it } from 'vitest';
import { Emdb } from '../../dist/src/index.js';
import { setTestClockOffset } from '../../dist/src/testing.js';

describe('removeMany with TTL keys', () => {
  it('an expired key counts 0 (as remove() says false), a live TTL key counts 1', async () => {
    const db = await Emdb.openInMemory({ readers: 1, rangeScans: true });
    try {
      await db.insertMany([['short-1', 'v'], ['short-2', 'v'], ['short-3', 'v']], { ttl: 1_000 });
      await db.insertMany([['long-1', 'v'], ['long-2', 'v']], { ttl: 3_600_000 });
      await db.insert('plain', 'v');
      // Past the short deadlines; the sweep is not woken, so the expired records are still in the index.
      await setTestClockOffset(db, 60_000, { wakeSweep: false });
      expect((await db.stats()).ttl.expiredPending).toBe(3);
      expect(await db.remove('short-3')).toBe(false);
      expect(await db.removeMany(['short-1', 'short-2', 'long-1', 'plain', 'never'])).toBe(2);
      expect(await db.len()).toBe(1);
      expect((await db.range(null, null)).map(([k]) => k.toString())).toEqual(['long-2']);
      // The expired records are gone from the index, not just hidden: nothing is left to sweep.
      expect((await db.stats()).ttl.expiredPending).toBe(0);
      await setTestClockOffset(db, 0, { wakeSweep: false });
      expect(db.getSync('short-1')).toBeUndefined();
      expect(db.getSync('short-2')).toBeUndefined();
    } finally {
      await db.close();
    }
  });
});
