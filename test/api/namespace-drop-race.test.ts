/**
 * Regression: writes that name a namespace after it was dropped (a write
 * queued on a handle just behind the drop; an attached thread still holding
 * the old namespace) must never become data. They used to enter the index
 * under the dropped namespace id: invisible, but counted in stats(), kept by
 * compaction, and after compact + reopen (which forgets dropped ids) served in
 * the next namespace created, which reused the id: a phantom. (A transaction
 * that staged into such a namespace is refused whole instead:
 * tx-dropped-namespace-refused.test.ts.)
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb } from 'emdb-js';
import { tempDirs } from '../helpers/common.js';

describe('writes into a dropped namespace', () => {
  const newDir = tempDirs('emdb-ns-drop-');

  it('are discarded: not counted, not compacted, never served by a later namespace', async () => {
    const file = path.join(newDir(), 'db.emdb');
    const db = await Emdb.open(file, { readers: 1 });
    await db.insert('kept', 'default namespace');
    const doomed = await db.namespace('doomed');
    const drop = db.dropNamespace('doomed');
    // Queued after the drop request (one batch with a write of the default namespace): applied once the namespace is gone.
    const late = [doomed.insert('k', 'written after the drop'), db.insert('also-in-batch', 'committed')];
    expect(await drop).toBe(true);
    await Promise.all(late);
    expect(db.getSync('also-in-batch')?.toString()).toBe('committed');
    expect((await db.stats()).records, 'no invisible live record').toBe(2);
    await db.compact();
    await db.close();

    const again = await Emdb.open(file, { readers: 1 });
    try {
      expect(await again.namespaces()).toEqual([]);
      const fresh = await again.namespace('fresh');
      expect(fresh.getSync('k'), 'the dropped namespace id was reused; its writes must not come back').toBeUndefined();
      expect(await fresh.len()).toBe(0);
      expect((await again.stats()).records).toBe(2);
    } finally {
      await again.close();
    }
  });

  it('are discarded the same way by recovery, so the reopened state equals the live one', async () => {
    const file = path.join(newDir(), 'db.emdb');
    const db = await Emdb.open(file, { readers: 1 });
    const ns = await db.namespace('gone');
    await ns.insert('before', 'dropped with its namespace');
    const drop = db.dropNamespace('gone');
    const late = ns.insert('during', 'after the drop');
    expect(await drop).toBe(true);
    await late;
    const live = await db.stats();
    await db.close();
    const again = await Emdb.open(file, { readers: 1 });
    try {
      const stats = await again.stats();
      expect({ records: stats.records, liveBytes: stats.liveBytes, deadBytes: stats.deadBytes }).toEqual({ records: live.records, liveBytes: live.liveBytes, deadBytes: live.deadBytes });
      expect(stats.records).toBe(0);
    } finally {
      await again.close();
    }
  });
});
