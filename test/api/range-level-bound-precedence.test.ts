/**
 * Level bounds given twice on one side: abstract-level documents that gte wins
 * over gt and lte over lt. A gt that won would drop the start key; an lt that
 * won would drop the end key.
 */
import { describe, expect, it } from 'vitest';
import { Emdb } from '../helpers/common.js';

async function keysOf(it: AsyncIterable<[Buffer, unknown]>): Promise<string[]> {
  const out: string[] = [];
  for await (const [k] of it) out.push(k.toString());
  return out;
}

describe('rangeIter Level bounds: gte and lte win', () => {
  it('gte wins over gt and lte over lt, forward and reverse', async () => {
    const db = await Emdb.openInMemory({ rangeScans: true, readers: 1 });
    try {
      for (const k of ['a', 'b', 'c', 'd', 'e']) await db.insert(k, k);
      expect(await keysOf(db.rangeIter({ gt: 'b', gte: 'b', lt: 'd', lte: 'd' }))).toEqual(['b', 'c', 'd']);
      expect(await keysOf(db.rangeIter({ gt: 'b', gte: 'b', lt: 'd', lte: 'd', reverse: true }))).toEqual(['d', 'c', 'b']);
      // Different keys on one side: the inclusive bound is used, whichever is tighter.
      expect(await keysOf(db.rangeIter({ gt: 'a', gte: 'c' }))).toEqual(['c', 'd', 'e']);
      expect(await keysOf(db.rangeIter({ gt: 'c', gte: 'a', lt: 'e', lte: 'b' }))).toEqual(['a', 'b']);
      expect(await keysOf(db.rangeIter({ lt: 'b', lte: 'd', limit: 10 }))).toEqual(['a', 'b', 'c', 'd']);
    } finally {
      await db.close();
    }
  });
});
