import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, tempDirs } from '../helpers/common.js';

/**
 * The group policy waits for followers it expects from the last few batches.
 * After a burst of 8 producers it expected 8, so a lone producer that came next
 * waited maxWaitMs on each of its next few flushes for followers that were gone.
 * maxWaitMs is 1000 here, so such a wait cannot hide; stats().flushTimeouts
 * counts the syncs a follower-wait timer started, so nothing is timed.
 */
describe('group flush policy: a lone writer after a burst', () => {
  const newDir = tempDirs();

  it('does not wait for the burst producers: its durable writes start no follower-wait timer (beyond one short window)', async () => {
    const db = await Emdb.open(path.join(newDir(), 'lone.emdb'), { readers: 1, flushPolicy: { kind: 'group', maxWaitMs: 1000, maxBatch: 64 } });
    // The burst: 8 async producers, each writing and flushing 20 times.
    await Promise.all(
      Array.from({ length: 8 }, async (_, p) => {
        for (let i = 0; i < 20; i++) await Promise.all([db.insert(`burst:${p}:${i}`, 'v'), db.flush()]);
      }),
    );
    const before = await db.stats();
    expect(before.syncs).toBeLessThan(8 * 20); // the burst did share syncs
    for (let i = 0; i < 10; i++) {
      await db.insert(`lone:${i}`, 'v');
      await db.flush();
    }
    const after = await db.stats();
    expect(after.syncs - before.syncs).toBe(10);
    // At most the first lone flush may wait out a window, and that window is learnt from
    // how long the burst's followers took to gather (here: at once, so 1 ms), not maxWaitMs.
    expect(after.flushTimeouts - before.flushTimeouts).toBeLessThanOrEqual(1);
    await db.close();
  });
});
