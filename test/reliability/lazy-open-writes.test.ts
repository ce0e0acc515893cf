/**
 * Writes after a lazy reopen (writer/lazy-prefetch.ts): a write loads only the
 * pages of the records it replaces, before the file is touched, instead of
 * every page of the log; a damaged page among them refuses the write (and every
 * later one) with the file untouched. The background warm-up is off here
 * (EMDB_LAZY_WARM=0), so which pages are loaded is decided by the writes alone.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Emdb, ErrorCode, tempDirs } from '../helpers/common.js';
import { build, damagedDatabase, descriptorsOn, PAGE, sha, valueOf } from '../helpers/lazy-db.js';

describe('writes after a lazy reopen', () => {
  const newDir = tempDirs('emdb-lazy-writes-');
  // The whole-log mirror's lazy pages: the tiny-cache tier's EMDB_CACHE_SIZE is set aside (cache-size-reads.test.ts covers frames).
  const saved = { min: process.env.EMDB_LAZY_OPEN_MIN_BYTES, warm: process.env.EMDB_LAZY_WARM, cache: process.env.EMDB_CACHE_SIZE };
  beforeAll(() => {
    process.env.EMDB_LAZY_OPEN_MIN_BYTES = '0';
    process.env.EMDB_LAZY_WARM = '0';
    delete process.env.EMDB_CACHE_SIZE;
  });
  afterAll(() => {
    for (const [name, value] of [['EMDB_LAZY_OPEN_MIN_BYTES', saved.min], ['EMDB_LAZY_WARM', saved.warm], ['EMDB_CACHE_SIZE', saved.cache]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  it('overwrites, removals, new keys and a transaction leave the other pages on disk; every record reads back before and after a reopen', async () => {
    if (!fs.existsSync('/proc/self/fd')) return;
    const file = path.join(newDir(), 'db.emdb');
    const model = await build(file, 20_000);
    const db = await Emdb.open<Buffer>(file, { readers: 1 });
    try {
      expect((await db.stats()).recovery.lazyPages).toBeGreaterThan(10);
      const keys = [...model.keys()];
      for (const k of keys.slice(0, 40)) {
        await db.insert(k, valueOf(1, 9));
        model.set(k, valueOf(1, 9));
      }
      await db.remove(keys[50]!);
      model.delete(keys[50]!);
      await db.insert('brand-new', Buffer.from('new'));
      model.set('brand-new', Buffer.from('new'));
      await db.transaction(async (tx) => {
        tx.insert(keys[60]!, Buffer.from('tx'));
        tx.remove(keys[61]!);
      });
      model.set(keys[60]!, Buffer.from('tx'));
      model.delete(keys[61]!);
      await db.flush();
      // The page loader's read-only descriptor is retired only once every page is in memory: still open.
      expect(descriptorsOn(file), 'pages left on disk after the writes').toBe(2);
      for (const [k, v] of model) expect(db.getSync(k), k).toEqual(v);
      expect(db.getSync(keys[50]!)).toBeUndefined();
    } finally {
      await db.close();
    }
    const again = await Emdb.open<Buffer>(file, { readers: 1 });
    try {
      for (const [k, v] of model) expect(again.getSync(k), k).toEqual(v);
      expect(await again.len()).toBe(model.size);
    } finally {
      await again.close();
    }
  });

  it('a write whose replaced record is on a damaged page is refused with ERR_EMDB_CORRUPTION before the file is touched; later writes too', async () => {
    const { file, key, at } = await damagedDatabase(newDir());
    const before = sha(file);
    const db = await Emdb.open<Buffer>(file, { readers: 1 });
    try {
      await expect(db.insert(key, Buffer.from('x'))).rejects.toMatchObject({ code: ErrorCode.CORRUPTION, offset: Math.floor(at / PAGE) * PAGE });
      await expect(db.insert('another', Buffer.from('y'))).rejects.toMatchObject({ code: ErrorCode.CORRUPTION });
    } finally {
      await db.close().catch(() => undefined);
    }
    expect(sha(file), 'the damaged file is never written').toBe(before);
  });

  it('a write that replaces records on intact pages succeeds while a damaged page elsewhere stays on disk; reads of that page still fail', async () => {
    const { file, model, key, at } = await damagedDatabase(newDir());
    const db = await Emdb.open<Buffer>(file, { readers: 1 });
    try {
      // key-000001 was written by the first batch: page 0, far from the damage on page 2.
      await db.insert('key-000001', Buffer.from('rewritten'));
      await db.flush();
      expect(db.getSync('key-000001')).toEqual(Buffer.from('rewritten'));
      expect(() => db.getSync(key)).toThrow(expect.objectContaining({ code: ErrorCode.CORRUPTION, offset: Math.floor(at / PAGE) * PAGE }));
      expect(model.size).toBeGreaterThan(0);
    } finally {
      await db.close().catch(() => undefined);
    }
  });

  it('a group delete still loads every page first (it reads records no key names)', async () => {
    if (!fs.existsSync('/proc/self/fd')) return;
    const file = path.join(newDir(), 'db.emdb');
    await build(file, 20_000);
    const db = await Emdb.open<Buffer>(file, { readers: 1 });
    try {
      expect(descriptorsOn(file)).toBe(2);
      await db.clear();
      expect(descriptorsOn(file), 'every page loaded, the loader retired').toBe(1);
      expect(await db.len()).toBe(0);
    } finally {
      await db.close();
    }
  });
});
