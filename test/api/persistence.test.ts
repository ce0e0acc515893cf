import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb } from 'emdb-js';
import { tempDirs } from '../helpers/common.js';

describe('persistence across close and reopen', () => {
  const newDir = tempDirs();

  it('keeps inserts, overwrites and removes', async () => {
    const dir = newDir();
    const file = path.join(dir, 'p.emdb');
    const db = await Emdb.open(file);
    await db.insert('a', 'one');
    await db.insert('b', Buffer.from([0, 1, 2]));
    await db.insert('a', 'two');
    await db.insert('gone', 'x');
    expect(await db.remove('gone')).toBe(true);
    expect(await db.remove('never')).toBe(false);
    await db.close();

    const again = await Emdb.open(file);
    expect(again.getSync('a')?.toString()).toBe('two');
    expect(await again.get('b')).toEqual(Buffer.from([0, 1, 2]));
    expect(await again.get('gone')).toBeUndefined();
    expect(await again.len()).toBe(2);
    await again.close();
  });

  it('survives reopen without a checkpoint of the latest writes', async () => {
    const dir = newDir();
    const file = path.join(dir, 'p.emdb');
    const db = await Emdb.open(file);
    await db.checkpoint();
    for (let i = 0; i < 1000; i++) await db.insert(`k${i}`, `v${i}`);
    await db.flush();
    await db.close();
    const again = await Emdb.open(file);
    expect(await again.len()).toBe(1000);
    expect(again.getSync('k999')?.toString()).toBe('v999');
    await again.close();
  });

  it('bulk loads through insertMany and grows the index past its first capacity', async () => {
    const dir = newDir();
    const file = path.join(dir, 'p.emdb');
    const db = await Emdb.open(file);
    const n = 50_000;
    const count = await db.insertMany((function* () {
      for (let i = 0; i < n; i++) yield [`key-${i}`, `value-${i}`] as [string, string];
    })());
    expect(count).toBe(n);
    expect(await db.len()).toBe(n);
    for (let i = 0; i < n; i += 997) expect(db.getSync(`key-${i}`)?.toString()).toBe(`value-${i}`);
    await db.close();
    const again = await Emdb.open(file);
    expect(await again.len()).toBe(n);
    const values = await again.getMany([`key-0`, `key-${n - 1}`, 'missing']);
    expect(values.map((v) => v?.toString())).toEqual(['value-0', `value-${n - 1}`, undefined]);
    await again.close();
  });
});
