/**
 * Records whose TTL passed are dead bytes at once, before the background sweep
 * removes them: `stats()` used to count them in `liveBytes` (98 % "live" with
 * half the records expired), so an operator deciding when to compact from
 * live vs dead bytes never would, and `compact()` reported only the swept
 * part as `deadBytesDropped` (0.67 MB of the 13.1 MB it dropped).
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, tempDirs } from '../helpers/common.js';
import { setTestClockOffset } from '../../dist/src/testing.js';

describe('expired records not yet swept', () => {
  const newDir = tempDirs('emdb-ttl-dead-');

  it('count as dead bytes in stats() and in the compaction report', async () => {
    const db = await Emdb.open(path.join(newDir(), 'db.emdb'), { readers: 1 });
    try {
      const value = Buffer.alloc(200, 1);
      await db.insertMany(
        (function* () {
          for (let i = 0; i < 5_000; i++) yield [`keep${i}`, value] as [string, Buffer];
        })(),
      );
      const before = await db.stats();
      await db.insertMany(
        (function* () {
          for (let i = 0; i < 5_000; i++) yield [`gone${i}`, value] as [string, Buffer];
        })(),
        { ttl: 60_000 },
      );
      const withTtl = await db.stats();
      const expiringBytes = withTtl.liveBytes - before.liveBytes;
      expect(expiringBytes).toBeGreaterThan(5_000 * 200);

      // The deadlines pass on the database clock; the sweep's timer, armed for real time, is not woken.
      await setTestClockOffset(db, 120_000, { wakeSweep: false });
      const expired = await db.stats();
      expect(expired.ttl.expiredPending, 'nothing swept yet').toBe(5_000);
      expect(expired.records).toBe(5_000);
      expect(expired.liveBytes, 'expired records are not live').toBe(before.liveBytes);
      expect(expired.deadBytes).toBe(withTtl.deadBytes + expiringBytes);
      expect(expired.liveBytes + expired.deadBytes).toBe(withTtl.liveBytes + withTtl.deadBytes);

      const report = await db.compact({ force: true });
      expect(report.deadBytesDropped, 'the report counts the expired records it dropped').toBe(expired.deadBytes);
      const after = await db.stats();
      expect(after.liveBytes).toBe(before.liveBytes);
      expect(after.records).toBe(5_000);
    } finally {
      await db.close();
    }
  });
});
