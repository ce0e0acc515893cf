/**
 * README, "What a read sees": an iterator includes what was acknowledged
 * before it was created and the writes its thread queued before creating it.
 * Found by outside testing: the range methods took their snapshot at the call
 * without waiting for this thread's writes still in flight, so a key inserted
 * (not awaited) just before rangeIter / range / iterAfter was missing.
 * iter() always waited for them (afterQueuedWrites); the range methods now do
 * too, and only when this thread has writes in flight.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { collect as collectAll, Emdb, tempDirs } from '../helpers/common.js';

const keysOf = (entries: [Buffer, unknown][]): string[] => entries.map(([k]) => k.toString());

async function collect<T>(it: AsyncIterable<[Buffer, T]>): Promise<string[]> {
  return (await collectAll(it)).map(([k]) => k.toString());
}

describe('range scans include the writes this thread queued before the call', () => {
  const newDir = tempDirs('emdb-range-queued-');

  it('rangeIter, rangePrefixIter, iterFrom, iterAfter, range and rangePrefix on the database and on a namespace', async () => {
    const db = await Emdb.open(path.join(newDir(), 'q.emdb'), { rangeScans: true, readers: 1 });
    try {
      const ns = await db.namespace('n');
      for (const space of [db, ns]) {
        await space.insert('a', '1');
        void space.insert('b', '2');
        expect(await collect(space.rangeIter({ gte: 'a', lt: 'z' }))).toEqual(['a', 'b']);
        void space.insert('c', '3');
        expect(await collect(space.rangePrefixIter(''))).toEqual(['a', 'b', 'c']);
        void space.insert('d', '4');
        expect(await collect(space.iterFrom('b'))).toEqual(['b', 'c', 'd']);
        void space.insert('e', '5');
        expect(await collect(space.iterAfter('c'))).toEqual(['d', 'e']);
        void space.insert('f', '6');
        expect(keysOf(await space.range('a', null))).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
        void space.remove('a');
        expect(keysOf(await space.rangePrefix(''))).toEqual(['b', 'c', 'd', 'e', 'f']);
      }
    } finally {
      await db.close();
    }
  });

  it('an iterator created with writes in flight and never read does not leave an unhandled rejection when the database closes', async () => {
    const db = await Emdb.open(path.join(newDir(), 'c.emdb'), { rangeScans: true, readers: 1 });
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown): void => void unhandled.push(err);
    process.on('unhandledRejection', onUnhandled);
    try {
      void db.insert('x', '1');
      const it = db.rangeIter({});
      await db.close();
      await expect(it.next()).rejects.toMatchObject({ code: 'ERR_EMDB_CLOSED' });
      await new Promise((r) => setTimeout(r, 50));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
