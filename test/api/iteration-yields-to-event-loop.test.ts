/**
 * A long `for await` over an iterator must not hold off the event loop until
 * it ends. Found by outside testing: with rangeScans, iter() and rangeIter()
 * walk the sorted index synchronously and hand entries out on microtasks
 * only, so an independent write loop made 1 insert during a 200k-key
 * iteration against ~400 without rangeScans. They now take one event-loop
 * turn every 4,096 entries.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, tempDirs } from '../helpers/common.js';

const N = 40_000;

describe('iteration yields to the event loop', () => {
  const newDir = tempDirs('emdb-iter-turns-');

  it('a timer set before iter(), keys(), rangeIter() and focus().entries() fires before they end (rangeScans)', async () => {
    const db = await Emdb.open(path.join(newDir(), 't.emdb'), { readers: 1, rangeScans: true });
    try {
      await db.insertMany(Array.from({ length: N }, (_, i) => [`g.${String(i).padStart(6, '0')}`, 'v'] as [string, string]));
      const iterators: [string, () => AsyncIterable<unknown>][] = [
        ['iter', () => db.iter()],
        ['keys', () => db.keys()],
        ['rangeIter', () => db.rangeIter({})],
        ['focus.entries', () => db.focus('g').entries()],
      ];
      for (const [name, make] of iterators) {
        let seen = 0;
        let firedAt = -1;
        setTimeout(() => (firedAt = seen), 0);
        for await (const _ of make()) seen++;
        expect(seen, name).toBe(N);
        expect(firedAt, `${name}: the timer fired only after the iteration`).toBeGreaterThanOrEqual(0);
        expect(firedAt, name).toBeLessThan(N);
      }
    } finally {
      await db.close();
    }
  });
});
