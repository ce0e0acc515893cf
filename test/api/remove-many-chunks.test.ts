/**
 * removeMany of a source larger than one chunk, on a file with rangeScans: the
 * count is exact across chunks (a key repeated in a later chunk counts once,
 * missing keys count 0), removed keys vanish from getSync, len, iter and range
 * scans, and after close + reopen the removals are still there. A namespace's
 * removeMany touches only its own keys.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb } from 'emdb-js';
import { tempDirs } from '../helpers/common.js';

const N = 40_000;
/** ~220-byte keys: 40,000 removals are ~10 MiB of tombstones, three chunks. */
const key = (i: number) => `k${String(i).padStart(6, '0')}-`.padEnd(220, 'x');

describe('removeMany across chunks', () => {
  const newDir = tempDirs('emdb-remove-many-chunks-');

  it('exact count, gone from every read and from range scans, persisted across reopen', async () => {
    const file = path.join(newDir(), 'c.emdb');
    let db = await Emdb.open(file, { readers: 1, rangeScans: true });
    const ns = await db.namespace('side');
    await db.insertMany(Array.from({ length: N }, (_, i) => [key(i), `v${i}`] as [string, string]));
    await ns.insertMany(Array.from({ length: 10 }, (_, i) => [key(i), 'side'] as [string, string]));
    // Every even key, then key(0) again (in the last chunk) and some keys never written.
    function* victims(): Generator<string> {
      for (let i = 0; i < N; i += 2) yield key(i);
      yield key(0);
      for (let i = N; i < N + 100; i++) yield key(i);
    }
    expect(await db.removeMany(victims())).toBe(N / 2);
    const stats = await db.stats();
    expect(stats.writes).toBeGreaterThan(N + N / 2);
    const check = async (label: string) => {
      expect(await db.len(), label).toBe(N / 2);
      for (let i = 0; i < N; i += 997) expect(db.getSync(key(i))?.toString(), `${label}: ${i}`).toBe(i % 2 === 0 ? undefined : `v${i}`);
      const ranged = await db.range(null, null);
      expect(ranged.length, label).toBe(N / 2);
      expect(ranged.every(([k], j) => k.toString() === key(2 * j + 1)), label).toBe(true);
      const prefixed = await db.rangePrefix('k00001');
      expect(prefixed.map(([k]) => k.toString().slice(0, 7)), label).toEqual(['k000011', 'k000013', 'k000015', 'k000017', 'k000019']);
      let iterated = 0;
      for await (const [k] of db.iter()) if (Number(k.toString().slice(1, 7)) % 2 === 1) iterated++;
      expect(iterated, label).toBe(N / 2);
      const side = await db.namespace('side');
      expect(await side.len(), `${label}: the namespace is untouched`).toBe(10);
    };
    await check('after removeMany');
    expect(await ns.removeMany([key(1), key(2), key(2), key(50)])).toBe(2);
    await db.close();
    db = await Emdb.open(file, { readers: 1, rangeScans: true });
    try {
      expect(await db.len()).toBe(N / 2);
      expect(await (await db.namespace('side')).len()).toBe(8);
      expect((await (await db.namespace('side')).range(null, null)).map(([k]) => k.toString().slice(0, 7))).toEqual(
        [0, 3, 4, 5, 6, 7, 8, 9].map((i) => `k${String(i).padStart(6, '0')}`),
      );
      await db.insert('z-after', 'x');
      await db.close();
      db = await Emdb.open(file, { readers: 1, rangeScans: true });
      expect(await db.len()).toBe(N / 2 + 1);
      expect((await db.range(null, key(4))).map(([k]) => k.toString().slice(0, 7))).toEqual(['k000001', 'k000003']);
    } finally {
      await db.close();
    }
  });
});
