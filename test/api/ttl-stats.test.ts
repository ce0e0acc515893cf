/**
 * stats().ttl: the deadline heap's entries and memory, the expired records
 * not swept yet, the removals the sweep wrote and how long its last run took
 * (a run that sweeps in many batches, each yielding a turn to the requests).
 */
import { describe, expect, it } from 'vitest';
import { Emdb, Ttl } from '../../dist/src/index.js';
import { setTestClockOffset } from '../../dist/src/testing.js';

async function waitFor(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 600 && !(await check()); i++) await new Promise((r) => setTimeout(r, 50));
}

describe('stats().ttl', () => {
  it('reports deadlines, their memory, expired and swept counts, and the last sweep run', async () => {
    const db = await Emdb.openInMemory({ readers: 1 });
    try {
      const n = 20_000;
      await db.insertMany(Array.from({ length: n }, (_, i) => [`t:${i}`, 'v'] as [string, string]), { ttl: 60_000 });
      await db.insertMany(Array.from({ length: 100 }, (_, i) => [`p:${i}`, 'v'] as [string, string]), { ttl: Ttl.Never });
      let ttl = (await db.stats()).ttl;
      expect(ttl.deadlines).toBe(n);
      expect(ttl.deadlineBytes).toBeGreaterThanOrEqual(16 * n);
      expect(ttl.expiredPending).toBe(0);
      expect(ttl.swept).toBe(0);
      expect(ttl.lastSweepMs).toBe(0);
      // Past the deadlines, the sweep not woken: all expired, none swept, records excludes them.
      await setTestClockOffset(db, 120_000, { wakeSweep: false });
      const s = await db.stats();
      expect(s.ttl.expiredPending).toBe(n);
      expect(s.records).toBe(100);
      // Woken: it sweeps them all, in batches of at most 1,000.
      await setTestClockOffset(db, 120_000);
      await waitFor(async () => (await db.stats()).ttl.swept === n);
      ttl = (await db.stats()).ttl;
      expect(ttl.swept).toBe(n);
      expect(ttl.expiredPending).toBe(0);
      expect(ttl.deadlines).toBe(0);
      expect(ttl.lastSweepMs).toBeGreaterThan(0);
      expect(ttl.maxSweepBatchMs).toBeLessThanOrEqual(ttl.lastSweepMs);
      expect(await db.len()).toBe(100);
    } finally {
      await db.close();
    }
  }, 60_000);
});
