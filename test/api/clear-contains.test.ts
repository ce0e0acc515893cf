import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb } from 'emdb-js';
import { rmrf, tmpDir, tempDirs } from '../helpers/common.js';

describe('contains, len, isEmpty and clear', () => {
  const newDir = tempDirs();

  it('answer from the shared index and clear() survives reopen', async () => {
    const dir = newDir();
    const file = path.join(dir, 'c.emdb');
    const db = await Emdb.open(file, { readers: 1 });
    expect(await db.isEmpty()).toBe(true);
    await db.insertMany(Array.from({ length: 100 }, (_, i) => [`k${i}`, `v${i}`] as [string, string]));
    expect(await db.contains('k5')).toBe(true);
    expect(await db.contains('nope')).toBe(false);
    expect(await db.len()).toBe(100);
    await db.clear();
    expect(await db.len()).toBe(0);
    expect(await db.contains('k5')).toBe(false);
    expect(await db.get('k5')).toBeUndefined();
    await db.insert('after', 'clear');
    await db.close();

    const again = await Emdb.open(file, { readers: 1 });
    expect(await again.len()).toBe(1);
    expect(again.getSync('k5')).toBeUndefined();
    expect(again.getSync('after')?.toString()).toBe('clear');
    const stats = await again.stats();
    expect(stats.records).toBe(1);
    expect(stats.deadBytes).toBeGreaterThan(0);
    await again.close();
  });

  it('keeps call order between insert, remove and insertMany issued without awaiting', async () => {
    const db = await Emdb.openInMemory({ readers: 1 });
    const a = db.insert('k', 'first');
    const b = db.remove('k');
    const c = db.insertMany([['k', 'second']]);
    const d = db.insert('k', 'third');
    await Promise.all([a, b, c, d]);
    expect(db.getSync('k')?.toString()).toBe('third');
    expect(await b).toBe(true);
    await db.close();
  });
});

describe('Emdb.lockHolder / Emdb.breakLock', () => {
  it('report this process as holder and refuse to break a live lock', async () => {
    const dir = tmpDir();
    const file = path.join(dir, 'l.emdb');
    const db = await Emdb.open(file, { readers: 1 });
    const holder = await Emdb.lockHolder(file);
    expect(holder?.pid).toBe(process.pid);
    await expect(Emdb.breakLock(file)).rejects.toMatchObject({ code: 'ERR_EMDB_LOCKED' });
    await db.close();
    expect(await Emdb.lockHolder(file)).toBeUndefined();
    await Emdb.breakLock(file);
    rmrf(dir);
  });
});
