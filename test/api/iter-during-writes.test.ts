/**
 * iter() without rangeScans while the same thread writes: the index is listed
 * a window of slots at a time and each window's records are read in log order
 * (src/keyspace-scan.ts). README: a key written or removed during the
 * iteration may or may not be seen; every key that exists throughout is seen
 * exactly once, with a value it held during the iteration. 300,000 keys make
 * an index of more than one window; the page cache holds two frames.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, tempDirs } from '../helpers/common.js';

const N = 300_000;
const key = (i: number): string => `k${String(i).padStart(7, '0')}`;

describe('iter() during writes', () => {
  const newDir = tempDirs('emdb-iter-writes-');

  for (const cacheSize of [undefined, 128 * 1024]) {
    it(`every key that exists throughout is seen once, with a value it held (${cacheSize ? 'page cache of two frames' : 'whole log'})`, async () => {
      const db = await Emdb.open<string>(path.join(newDir(), 'w.emdb'), { valueEncoding: 'utf8', readers: 2, ...(cacheSize ? { cacheSize } : {}) });
      try {
        await db.insertMany(Array.from({ length: N }, (_, i) => [key(i), `v0-${i}`] as [string, string]));
        // Keys ≥ N/2 churn: overwritten, removed, new ones written. Keys < N/2 are only overwritten.
        const held = new Map<string, Set<string>>();
        for (let i = 0; i < N; i++) held.set(key(i), new Set([`v0-${i}`]));
        const seen = new Map<string, number>();
        let yielded = 0;
        let round = 0;
        for await (const [k, v] of db.iter()) {
          const name = k.toString();
          seen.set(name, (seen.get(name) ?? 0) + 1);
          const values = held.get(name);
          expect(values?.has(v), `${name} = ${v}`).toBe(true);
          if (++yielded % 20_000 === 0) {
            round++;
            const writes: [string, string][] = [];
            for (let j = 0; j < 500; j++) {
              const i = (round * 7919 + j * 104_729) % N;
              writes.push([key(i), `v${round}-${i}`]);
              held.get(key(i))!.add(`v${round}-${i}`);
            }
            for (let j = 0; j < 200; j++) {
              const name2 = `new-${round}-${j}`;
              writes.push([name2, 'n']);
              held.set(name2, new Set(['n']));
            }
            await db.insertMany(writes);
            await db.removeMany(Array.from({ length: 100 }, (_, j) => key(N / 2 + ((round * 31 + j * 997) % (N / 2)))));
          }
        }
        expect(round).toBeGreaterThan(10);
        // A churning key removed and written again may sit in a new slot: only keys that exist throughout are seen once.
        const twice: string[] = [];
        const missing: string[] = [];
        for (let i = 0; i < N / 2; i++) {
          const n = seen.get(key(i)) ?? 0;
          if (n > 1) twice.push(key(i));
          if (n === 0) missing.push(key(i));
        }
        expect(twice, 'keys seen more than once').toEqual([]);
        expect(missing, 'keys that existed throughout and were not seen').toEqual([]);
      } finally {
        await db.close();
      }
    }, 120_000);
  }
});
