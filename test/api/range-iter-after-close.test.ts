/**
 * The close() contract holds for range iterators too: after close() every
 * next() rejects with ERR_EMDB_CLOSED, also when the iterator holds entries
 * already read (a chunk of its snapshot) and also on the next call after that.
 */
import { describe, expect, it } from 'vitest';
import { Emdb, rejectsWithCode } from '../helpers/common.js';

describe('range iterators after close()', () => {
  it('rangeIter, rangePrefixIter, iterFrom and iterAfter reject with ERR_EMDB_CLOSED', async () => {
    const db = await Emdb.openInMemory({ rangeScans: true, readers: 1 });
    for (let i = 0; i < 200; i++) await db.insert(`k${String(i).padStart(3, '0')}`, 'v');
    const its = [db.rangeIter(null, null), db.rangePrefixIter('k'), db.iterFrom('k000'), db.iterAfter('k000')];
    // One entry each: the rest of the first chunk is held by the iterator.
    for (const it of its) expect((await it.next()).done).toBe(false);
    await db.close();
    for (const it of its) {
      await rejectsWithCode(it.next(), 'ERR_EMDB_CLOSED');
      await rejectsWithCode(it.next(), 'ERR_EMDB_CLOSED');
    }
  });
});
