/**
 * A sorted index rebuilt at open (the last snapshot has no sorted section: it
 * was written by an open without rangeScans) is saved by the close even when
 * the session wrote nothing, so only that one open pays the rebuild (a read
 * of every live record); before, every read-only rangeScans open rebuilt it.
 * Plaintext and encrypted.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, tempDirs } from '../helpers/common.js';

describe('a sorted index rebuilt at open is saved by the close', () => {
  const newDir = tempDirs('emdb-range-saved-');
  for (const encrypted of [false, true]) {
    it(`${encrypted ? 'encrypted' : 'plaintext'}: a read-only rangeScans session's close saves what its open rebuilt`, async () => {
      const file = path.join(newDir(), 'r.emdb');
      const encryption = encrypted ? { encryption: { key: randomBytes(32) } } : {};
      const entries = Array.from({ length: 3000 }, (_, i) => [`k${String(i).padStart(5, '0')}`, `${i}`] as [string, string]);
      // Written without rangeScans: its snapshot has no sorted section.
      let db = await Emdb.open<string>(file, { readers: 1, valueEncoding: 'utf8', ...encryption });
      await db.insertMany(entries);
      await db.close();
      for (const expected of ['rebuilt', 'snapshot', 'snapshot'] as const) {
        db = await Emdb.open<string>(file, { readers: 1, valueEncoding: 'utf8', rangeScans: true, ...encryption });
        try {
          expect((await db.stats()).sortedIndex).toMatchObject({ loadedFrom: expected });
          const all = await db.range(null, null);
          expect(all.map(([k, v]) => [k.toString(), v])).toEqual(entries);
        } finally {
          await db.close();
        }
      }
    });
  }
});
