import { describe, expect, it } from 'vitest';
import { Emdb } from './helpers.js';

describe('streaming iteration', () => {
  it('yields every live key exactly once, per namespace, with values', async () => {
    const db = await Emdb.openInMemory<Buffer>({ readers: 2 });
    const n = 40_000;
    await db.insertMany(Array.from({ length: n }, (_, i) => [`k${i}`, `v${i}`] as [string, string]));
    for (let i = 0; i < n; i += 10) await db.remove(`k${i}`);
    const other = await db.namespace('other');
    await other.insert('k1', 'not in the default namespace');
    const seen = new Map<string, string>();
    for await (const [k, v] of db.iter()) {
      const key = k.toString();
      expect(seen.has(key)).toBe(false);
      seen.set(key, v.toString());
    }
    expect(seen.size).toBe(n - n / 10);
    for (const [k, v] of seen) expect(v).toBe(`v${k.slice(1)}`);
    const keys: string[] = [];
    for await (const k of other.keys()) keys.push(k.toString());
    expect(keys).toEqual(['k1']);
    await db.close();
  });

  it('stops on break and leaves the database usable', async () => {
    const db = await Emdb.openInMemory<Buffer>({ readers: 1 });
    await db.insertMany(Array.from({ length: 50_000 }, (_, i) => [`k${i}`, 'v'] as [string, string]));
    let count = 0;
    for await (const _entry of db.iter()) {
      if (++count === 10) break;
    }
    expect(count).toBe(10);
    await db.insert('after', 'break');
    expect((await db.get('after'))?.toString()).toBe('break');
    await db.close();
  });

  it('keeps memory flat over 1,000,000 records (RSS growth under 50 MB)', async () => {
    const db = await Emdb.openInMemory<Buffer>({ readers: 2 });
    const n = 1_000_000;
    await db.insertMany((function* () {
      for (let i = 0; i < n; i++) yield [`key:${i}`, Buffer.alloc(100, i & 0xff)] as [string, Buffer];
    })());
    // Reader threads start on the first async read: start them before the baseline,
    // so their own heaps are not counted as iteration growth.
    await db.get('key:0');
    global.gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    let count = 0;
    let bytes = 0;
    for await (const [k, v] of db.iter()) {
      count++;
      bytes += k.length + v.length;
      if ((count & 0x3fff) === 0) peak = Math.max(peak, process.memoryUsage().rss);
    }
    expect(count).toBe(n);
    expect(bytes).toBeGreaterThan(n * 100);
    expect(peak - before).toBeLessThan(50 * 2 ** 20);
    await db.close();
  }, 120_000);
});
