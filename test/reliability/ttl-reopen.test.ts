/**
 * Expiry across reopen, the index snapshot and compaction: a database reopened
 * "days later" (the test clock) serves nothing expired from its first read,
 * does not sweep before it, rebuilds no deadline from the log (they come with
 * the index snapshot), and compaction drops expired records.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, Ttl } from '../../dist/src/index.js';
import { setTestClockOffset } from '../../dist/src/testing.js';
import { tempDirs } from '../helpers/common.js';

const DAY = 86_400_000;

async function waitFor(cond: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('condition not reached');
}

describe('TTL across reopen', () => {
  const dirs = tempDirs('emdb-ttl-reopen-');

  it('reopened days later: nothing expired is served, deadlines come from the snapshot, the sweep runs after open', async () => {
    const file = path.join(dirs(), 'db.emdb');
    const db = await Emdb.open(file, { readers: 1, valueEncoding: 'utf8' });
    const n = 2000;
    await db.insertMany(Array.from({ length: n }, (_, i) => [`s${i}`, 'session'] as [string, string]), { ttl: DAY });
    await db.insert('keep', 'forever');
    await db.insertWithTtl('week', 'later', 7 * DAY);
    await db.close();

    const again = await Emdb.open<string>(file, { readers: 1, valueEncoding: 'utf8' });
    try {
      const stats = await again.stats();
      expect(stats.recovery.mode).toBe('snapshot');
      expect(stats.recovery.recordsReplayed).toBe(0);
      expect(stats.ttl.deadlines).toBe(n + 1);
      // Three days later (the clock is per database: set right after open).
      await setOffsetOnly(again, 3 * DAY);
      expect(again.getSync('s1')).toBeUndefined();
      expect(await again.get('s7')).toBeUndefined();
      expect(await again.len()).toBe(2);
      // (The writer may already be sweeping: it arms its timer a turn after open, at the moved clock.
      // Reads never wait for it — they skip expired records themselves.)
      expect(await again.get('week')).toBe('later');
      // Now let the writer sweep: removal records in batches, until nothing expired is pending.
      await setTestClockOffset(again, 3 * DAY);
      await waitFor(async () => (await again.stats()).ttl.expiredPending === 0);
      const after = await again.stats();
      expect(after.ttl.swept).toBe(n);
      expect(after.records).toBe(2);
      expect(await again.len()).toBe(2);
    } finally {
      await again.close();
    }
  });

  it('compaction drops expired records and keeps the rest with their deadlines', async () => {
    const file = path.join(dirs(), 'db.emdb');
    const db = await Emdb.open<string>(file, { readers: 1, valueEncoding: 'utf8' });
    try {
      await db.insertWithTtl('soon', 'a', 10_000);
      await db.insertWithTtl('later', 'b', 10 * DAY);
      await db.insertWithTtl('never', 'c', Ttl.Never);
      await setOffsetOnly(db, DAY);
      const report = await db.compact();
      expect(report.keysKept).toBe(2);
      const at = await db.expiresAt('later');
      expect(at).toBeGreaterThan(Date.now() + 8 * DAY);
      // Moving the clock back does not revive what compaction dropped.
      await setOffsetOnly(db, 0);
      expect(await db.get('soon')).toBeUndefined();
      expect(await db.len()).toBe(2);
    } finally {
      await db.close();
    }
    const again = await Emdb.open<string>(file, { readers: 1, valueEncoding: 'utf8' });
    try {
      expect(await again.get('later')).toBe('b');
      expect((await again.stats()).ttl.deadlines).toBe(1);
    } finally {
      await again.close();
    }
  });

  it('a full replay (no snapshot) rebuilds the deadlines from the records', async () => {
    const file = path.join(dirs(), 'db.emdb');
    const db = await Emdb.open<string>(file, { readers: 1, valueEncoding: 'utf8' });
    await db.insertWithTtl('a', 'v', 1000 * 60);
    await db.insertWithTtl('b', 'v', DAY);
    await db.close();
    const fs = await import('node:fs');
    fs.rmSync(`${file}.index`);
    const again = await Emdb.open<string>(file, { readers: 1, valueEncoding: 'utf8' });
    try {
      expect((await again.stats()).recovery.mode).toBe('full');
      expect((await again.stats()).ttl.deadlines).toBe(2);
      await setOffsetOnly(again, 2 * 60_000);
      expect(await again.len()).toBe(1);
      expect(await again.remove('a')).toBe(false);
      expect(await again.persist('a')).toBe(false);
      expect(await again.persist('b')).toBe(true);
      expect(await again.ttl('b')).toBeUndefined();
    } finally {
      await again.close();
    }
  });
});

/** Moves this database's clock without waking the writer's sweep. */
function setOffsetOnly(db: Emdb<unknown>, offset: number): Promise<void> {
  return setTestClockOffset(db, offset, { wakeSweep: false });
}
