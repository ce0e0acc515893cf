/**
 * README: after close() every iterator's next() rejects with ERR_EMDB_CLOSED,
 * even when it holds entries read ahead; a dropped namespace is closed too.
 * Found by outside testing: focus() and group() iterators kept yielding every
 * entry after close() and after dropNamespace(), while iter(), keys() and
 * rangeIter() rejected. They are now wrapped like iter().
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, tempDirs } from '../helpers/common.js';

const N = 5_000;

describe('focus and group iterators after close and drop', () => {
  const newDir = tempDirs('emdb-focus-close-');

  for (const rangeScans of [false, true]) {
    it(`reject with ERR_EMDB_CLOSED after close()${rangeScans ? ' (rangeScans)' : ''}`, async () => {
      const db = await Emdb.open(path.join(newDir(), 'f.emdb'), { readers: 1, rangeScans });
      await db.insertMany(Array.from({ length: N }, (_, i) => [`g.${i}`, 'v'] as [string, string]));
      const g = await db.group('g');
      const its: AsyncIterator<unknown>[] = [db.focus('g').entries(), db.focus('g').keys(), g.keys(), g.entries()];
      for (const it of its) expect((await it.next()).done).toBe(false);
      await db.close();
      for (const it of its) {
        await expect(it.next()).rejects.toMatchObject({ code: 'ERR_EMDB_CLOSED' });
        // And again: an iterator that rejected once does not turn into a finished one.
        await expect(it.next()).rejects.toMatchObject({ code: 'ERR_EMDB_CLOSED' });
      }
    });
  }

  it('reject with ERR_EMDB_CLOSED after their namespace is dropped', async () => {
    const db = await Emdb.open(path.join(newDir(), 'n.emdb'), { readers: 1 });
    try {
      const ns = await db.namespace('n');
      await ns.insertMany(Array.from({ length: N }, (_, i) => [`g.${i}`, 'v'] as [string, string]));
      const it = ns.focus('g').entries();
      expect((await it.next()).done).toBe(false);
      await db.dropNamespace('n');
      await expect(it.next()).rejects.toMatchObject({ code: 'ERR_EMDB_CLOSED' });
    } finally {
      await db.close();
    }
  });
});
