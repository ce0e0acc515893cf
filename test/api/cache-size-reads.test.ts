/**
 * The bounded page cache (OpenOptions.cacheSize): a log far larger than the
 * cache is read through frames and preads on every path, every value exact,
 * across compaction and reopen; a damaged record on disk is reported by the
 * read that meets it, with its offset; descriptors of replaced generations
 * are closed (docs/DESIGN.md, "Bounded page cache").
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { collect, Emdb, EmdbError, ErrorCode, tempDirs } from '../helpers/common.js';
import { build, damagedDatabase, sha, until, useEnv, valueOf } from '../helpers/lazy-db.js';

/** Descriptors of this process on `file` or on a file that was renamed over it (shown as "(deleted)"). */
function descriptorsOnOrReplaced(file: string): number {
  const real = fs.realpathSync(file);
  let n = 0;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      const link = fs.readlinkSync(`/proc/self/fd/${fd}`);
      if (link === real || link === `${real} (deleted)`) n++;
    } catch {
      // closed while listing
    }
  }
  return n;
}

/** Two 64 KiB frames: every read of an older page is a miss, every append evicts. */
const TINY = 128 * 1024;

describe('cacheSize', () => {
  const newDir = tempDirs('emdb-cache-size-');
  // Small logs reopen lazily too: no whole-log read at open that would meet damage before the cache does.
  useEnv({ EMDB_LAZY_OPEN_MIN_BYTES: '0' });

  it('reads every value exactly through getSync, get, getMany, iter and rangeIter with a cache under 1/8 of the log, also after compaction and reopen', async () => {
    const file = path.join(newDir(), 'db.emdb');
    const model = await build(file, 4000, true);
    // Buffer.equals and one expect per path: vitest's deep equality per key costs more than the reads.
    const check = async (db: Emdb<Buffer>): Promise<void> => {
      const keys = [...model.keys()];
      expect(keys.filter((k) => !db.getSync(k)?.equals(model.get(k)!))).toEqual([]);
      const viaPool = await db.getMany(keys);
      expect(keys.filter((k, i) => !viaPool[i]?.equals(model.get(k)!))).toEqual([]);
      const wrong: string[] = [];
      let n = 0;
      for await (const [k, v] of db.iter()) {
        n++;
        if (!model.get(k.toString())?.equals(v)) wrong.push(k.toString());
      }
      expect(wrong).toEqual([]);
      expect(n).toBe(model.size);
      const ranged: string[] = [];
      for await (const [k, v] of db.rangeIter({ gte: 'key-001000', lt: 'key-002000' })) {
        if (!model.get(k.toString())?.equals(v)) wrong.push(k.toString());
        ranged.push(k.toString());
      }
      expect(wrong).toEqual([]);
      expect(ranged).toEqual(keys.filter((k) => k >= 'key-001000' && k < 'key-002000').sort());
    };
    let db = await Emdb.open<Buffer>(file, { rangeScans: true, cacheSize: TINY });
    try {
      const stats = await db.stats();
      expect(stats.cache).not.toBeNull();
      expect(stats.cache!.bytes).toBe(TINY);
      expect(stats.fileBytes).toBeGreaterThan(8 * TINY);
      await check(db);
      // Writes evict; a compaction builds a new generation, read through frames as well.
      for (let i = 0; i < 4000; i += 5) {
        const k = `key-${String(i).padStart(6, '0')}`;
        await db.insert(k, valueOf(i, 2));
        model.set(k, valueOf(i, 2));
      }
      await check(db);
      await db.compact();
      await check(db);
      expect((await db.stats()).cache!.residentBytes).toBeLessThanOrEqual(TINY);
    } finally {
      await db.close();
    }
    db = await Emdb.open<Buffer>(file, { rangeScans: true, cacheSize: TINY });
    try {
      await check(db);
    } finally {
      await db.close();
    }
  }, 240_000);

  it('removes exactly the keys of a group (a prefix delete scans every record while it holds the prefix)', async () => {
    const file = path.join(newDir(), 'db.emdb');
    const db = await Emdb.open<string>(file, { cacheSize: TINY, valueEncoding: 'utf8' });
    try {
      await db.insertMany(Array.from({ length: 3000 }, (_, i) => [`${i % 2 === 0 ? 'a' : 'b'}.${i}`, 'v'.repeat(100)] as [string, string]));
      await (await db.group('a')).remove();
      expect(await db.len()).toBe(1500);
      const left = (await collect(db.keys())).map(String);
      expect(left.filter((k) => !k.startsWith('b.'))).toEqual([]);
    } finally {
      await db.close();
    }
  });

  it('reports a damaged record on disk as ERR_EMDB_CORRUPTION with its offset when a read meets it, and serves every other key', async () => {
    const { file, model, key, at } = await damagedDatabase(newDir());
    const db = await Emdb.open<Buffer>(file, { cacheSize: TINY });
    try {
      let error: unknown;
      try {
        db.getSync(key);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(EmdbError);
      expect((error as EmdbError).code).toBe(ErrorCode.CORRUPTION);
      const offset = (error as EmdbError & { offset?: number }).offset;
      expect(offset).toBeLessThanOrEqual(at);
      expect(offset).toBeGreaterThan(at - 1000);
      await expect(db.get(key)).rejects.toMatchObject({ code: ErrorCode.CORRUPTION });
      expect([...model].filter(([k, v]) => k !== key && !db.getSync(k)?.equals(v)).map(([k]) => k)).toEqual([]);
    } finally {
      await db.close();
    }
  });

  it('refuses a backup of a log with a damaged page (ERR_EMDB_CORRUPTION), never copying it', async () => {
    const { file } = await damagedDatabase(newDir());
    const db = await Emdb.open<Buffer>(file, { cacheSize: TINY });
    const target = `${file}.backup`;
    try {
      await expect(db.backupTo(target)).rejects.toMatchObject({ code: ErrorCode.CORRUPTION });
    } finally {
      await db.close().catch(() => undefined);
    }
    expect(fs.existsSync(target)).toBe(false);
  });

  it('refuses a write whose replaced record is damaged on disk before the file is touched, and every later write', async () => {
    const { file, key } = await damagedDatabase(newDir());
    const before = sha(file);
    const db = await Emdb.open<Buffer>(file, { cacheSize: TINY });
    try {
      await expect(db.insert(key, Buffer.from('x'))).rejects.toMatchObject({ code: ErrorCode.CORRUPTION });
      await expect(db.insert('another', Buffer.from('y'))).rejects.toMatchObject({ code: ErrorCode.CORRUPTION });
    } finally {
      await db.close().catch(() => undefined);
    }
    expect(sha(file), 'the damaged file is never written').toBe(before);
  });

  it('closes the descriptor of a generation a compaction replaced once no read or iterator uses it, and every one at close', async () => {
    const file = path.join(newDir(), 'db.emdb');
    const model = await build(file, 3000);
    const db = await Emdb.open<Buffer>(file, { cacheSize: TINY });
    const base = descriptorsOnOrReplaced(file);
    // An iterator over the old generation holds its descriptor (G2) and still reads it whole after the compaction.
    const it = db.iter();
    const first = await it.next();
    expect(first.done).toBe(false);
    await db.compact();
    let n = 1;
    for (let r = await it.next(); !r.done; r = await it.next()) n++;
    expect(n).toBe(model.size);
    // Ended: the old descriptor goes on the writer's next timer turn.
    expect(await until(() => descriptorsOnOrReplaced(file) <= base)).toBe(true);
    await db.close();
    expect(descriptorsOnOrReplaced(file)).toBe(0);
    expect(fs.existsSync(file)).toBe(true);
  });
});
