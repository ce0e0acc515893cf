/**
 * stats().deadBytes is "what compaction would drop". Found by outside testing:
 * after dropNamespace the namespace's NS_CREATE record stayed counted in
 * liveBytes, so compact() reclaimed more than deadBytes said and liveBytes
 * fell with no live key removed. Now the drop moves it to deadBytes, in the
 * open that created the namespace and after a reopen.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, tempDirs } from '../helpers/common.js';

describe('dropping a namespace counts its catalogue record as dead', () => {
  const newDir = tempDirs('emdb-ns-drop-acct-');

  for (const reopen of [false, true]) {
    it(`deadBytes covers what compaction drops${reopen ? ' (namespace created before a reopen)' : ''}`, async () => {
      const file = path.join(newDir(), 'd.emdb');
      let db = await Emdb.open(file, { readers: 1 });
      try {
        await db.insert('keep', 'v');
        const ns = await db.namespace('gone');
        await ns.insert('k', 'v');
        if (reopen) {
          await db.close();
          db = await Emdb.open(file, { readers: 1 });
        }
        await db.dropNamespace('gone');
        const before = await db.stats();
        const report = await db.compact({ force: true });
        const after = await db.stats();
        expect(report.deadBytesDropped).toBe(before.deadBytes);
        expect(after.liveBytes).toBe(before.liveBytes);
        expect(after.deadBytes).toBe(0);
        expect(db.getSync('keep')).toEqual(Buffer.from('v'));
      } finally {
        await db.close();
      }
    });
  }
});
