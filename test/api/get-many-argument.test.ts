/**
 * getMany takes an iterable of keys. Found by outside testing: a non-iterable
 * argument rejected with a plain TypeError (no code), and a string was taken
 * as a list of one-character keys, while insertMany and removeMany refuse a
 * single key. Now all of them reject with ERR_EMDB_INVALID_CONFIG.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, rejectsWithCode, tempDirs } from '../helpers/common.js';

describe('getMany argument', () => {
  const newDir = tempDirs('emdb-getmany-arg-');

  it('refuses anything but an iterable of keys with ERR_EMDB_INVALID_CONFIG, on the database, a namespace and a focus', async () => {
    const db = await Emdb.open(path.join(newDir(), 'g.emdb'), { readers: 1 });
    try {
      await db.insert('a', '1');
      const ns = await db.namespace('n');
      for (const space of [db, ns, db.focus('f')]) {
        for (const bad of [null, undefined, 5, {}, 'ab', Buffer.from('ab')]) {
          await rejectsWithCode(() => space.getMany(bad as unknown as string[]), 'ERR_EMDB_INVALID_CONFIG');
        }
      }
      expect(await db.getMany(['a', 'b'])).toEqual([Buffer.from('1'), undefined]);
      expect(await db.getMany(new Set(['a']))).toEqual([Buffer.from('1')]);
    } finally {
      await db.close();
    }
  });
});
