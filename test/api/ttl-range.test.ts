/**
 * Expiry through the sorted index (rangeScans: true): an expired record that
 * the sweep has not removed yet is absent from every range method (on this
 * thread and in the reader pool), from sorted iter()/keys(), and from
 * group/focus reads, which walk the sorted index. The clock is the database's
 * (test offset in the control block), not the thread's Date.now().
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb } from '../../dist/src/index.js';
import { setTestClockOffset } from '../../dist/src/testing.js';
import { tempDirs } from '../helpers/common.js';

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const keysOf = (entries: [Buffer, unknown][]): string[] => entries.map(([k]) => k.toString());

describe('TTL with range scans', () => {
  const dirs = tempDirs('emdb-ttl-range-');

  it('expired records are absent from rangeIter, range, rangePrefix, iterFrom/iterAfter and sorted iter/keys', async () => {
    const db = await Emdb.openInMemory<string>({ readers: 1, valueEncoding: 'utf8', rangeScans: true });
    try {
      for (const k of ['a', 'c', 'e']) await db.insert(k, k);
      for (const k of ['b', 'd']) await db.insertWithTtl(k, k, 1_000);
      expect(keysOf(await db.range(null, null))).toEqual(['a', 'b', 'c', 'd', 'e']);
      // Past the deadlines, the sweep not told: the records are still in the log and the sorted index.
      await setTestClockOffset(db, 60_000, { wakeSweep: false });
      expect((await db.stats()).ttl.expiredPending).toBe(2);
      const live = ['a', 'c', 'e'];
      expect(keysOf(await collect(db.rangeIter(null, null)))).toEqual(live);
      expect(keysOf(await collect(db.rangeIter({ reverse: true })))).toEqual([...live].reverse());
      expect(keysOf(await collect(db.rangeIter('b', 'e')))).toEqual(['c']);
      expect(keysOf(await db.range('a', 'z'))).toEqual(live);
      expect(keysOf(await db.rangePrefix('d'))).toEqual([]);
      expect(keysOf(await collect(db.rangePrefixIter('b')))).toEqual([]);
      expect(keysOf(await collect(db.iterFrom('b')))).toEqual(['c', 'e']);
      expect(keysOf(await collect(db.iterAfter('a')))).toEqual(['c', 'e']);
      expect(keysOf(await collect(db.iter()))).toEqual(live);
      expect((await collect(db.keys())).map(String)).toEqual(live);
      expect(await db.len()).toBe(3);
    } finally {
      await db.close();
    }
  });

  it('group and focus read through the sorted index skip expired keys; a group delete keeps the sorted index exact, also after reopen', async () => {
    const file = path.join(dirs(), 'db.emdb');
    let db = await Emdb.open<string>(file, { readers: 1, valueEncoding: 'utf8', rangeScans: true });
    try {
      const ns = await db.namespace<string>('n', { valueEncoding: 'utf8' });
      for (const space of [db, ns]) {
        await space.insert('g.1', 'one');
        await space.insertWithTtl('g.2', 'two', 1_000);
        await space.insert('g.3', 'three');
        await space.insert('h.1', 'other');
        await space.insert('g', 'not in the group');
      }
      await setTestClockOffset(db, 60_000, { wakeSweep: false });
      for (const space of [db, ns]) {
        const group = await space.group('g');
        expect(await group.count()).toBe(2);
        // The sorted index yields the group in key order.
        expect((await collect(group.keys())).map(String)).toEqual(['g.1', 'g.3']);
        expect((await collect(space.focus('g').entries())).map(([k, v]) => [k.toString(), v])).toEqual([
          ['1', 'one'],
          ['3', 'three'],
        ]);
        await group.remove();
        expect(await group.count()).toBe(0);
        expect(keysOf(await space.rangePrefix('g.'))).toEqual([]);
        expect(keysOf(await collect(space.rangeIter(null, null)))).toEqual(['g', 'h.1']);
        expect(await space.len()).toBe(2);
      }
      await db.close();
      db = await Emdb.open<string>(file, { readers: 1, valueEncoding: 'utf8', rangeScans: true });
      const again = await db.namespace<string>('n', { valueEncoding: 'utf8' });
      for (const space of [db, again]) {
        expect(keysOf(await space.range(null, null))).toEqual(['g', 'h.1']);
        expect(await (await space.group('g')).count()).toBe(0);
      }
    } finally {
      await db.close();
    }
  });
});
