/**
 * Compaction with the bounded page cache (OpenOptions.cacheSize): the new log
 * is staged (only its unwritten part in memory, earlier records read back from
 * the temp file), the old log is walked through a window of checked pages, and
 * the sorted index is relocated through the compaction's moves. Writes,
 * updates, removes and a transaction racing the compaction land in the new
 * log; every value and the key order are exact afterwards and after a reopen;
 * a damaged page of the old log fails the compaction with its offset and
 * leaves the file as it was (docs/DESIGN.md, "Bounded page cache").
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, ErrorCode, tempDirs } from '../helpers/common.js';
import { build, damagedDatabase, expectModelThroughRange, sha, useEnv, valueOf } from '../helpers/lazy-db.js';

/** Two 64 KiB frames: the log is ~15 times the cache. */
const TINY = 128 * 1024;
const key = (i: number): string => `key-${String(i).padStart(6, '0')}`;

async function expectExact(db: Emdb<Buffer>, model: Map<string, Buffer>): Promise<void> {
  await expectModelThroughRange(db, model);
  // Keys the model dropped read as absent.
  const absent: string[] = [];
  for (let i = 0; i < 8000; i += 13) if (!model.has(key(i)) && db.getSync(key(i)) !== undefined) absent.push(key(i));
  expect(absent).toEqual([]);
}

describe('compaction with cacheSize', () => {
  const newDir = tempDirs('emdb-cache-compaction-');
  useEnv({ EMDB_LAZY_OPEN_MIN_BYTES: '0' });

  it.each([
    ['plaintext', undefined],
    // Sealed in units: the new log is staged and read back through its own key, the moves follow the records through the units.
    ['encrypted', { key: Buffer.alloc(32, 0x3c) }],
  ])('%s: keeps every value and the key order exact with writes, removes and a transaction racing it, and after reopen', async (_kind, encryption) => {
    const file = path.join(newDir(), 'db.emdb');
    const model = await build(file, 6000, true, encryption);
    const options = { rangeScans: true, cacheSize: TINY, ...(encryption ? { encryption } : {}) };
    let db = await Emdb.open<Buffer>(file, options);
    try {
      expect((await db.stats()).fileBytes).toBeGreaterThan(12 * TINY);
      // Dead records between live ones: the copy walk makes many runs, and the sorted index many moves.
      const removals: string[] = [];
      for (let i = 1; i < 6000; i += 4) if (model.has(key(i))) removals.push(key(i));
      await db.removeMany(removals);
      for (const k of removals) model.delete(k);
      const racing = (async () => {
        for (let round = 0; round < 300; round++) {
          const i = (round * 97) % 8000;
          if (round % 5 === 0) {
            await db.remove(key(i));
            model.delete(key(i));
          } else {
            await db.insert(key(i), valueOf(i, 3 + round));
            model.set(key(i), valueOf(i, 3 + round));
          }
        }
        await db.transaction((tx) => {
          for (let i = 6000; i < 6100; i++) tx.insert(key(i), valueOf(i, 9));
        });
        for (let i = 6000; i < 6100; i++) model.set(key(i), valueOf(i, 9));
      })();
      const [report] = await Promise.all([db.compact(), racing]);
      expect(report.skipped).toBe(false);
      expect(report.bytesAfter).toBeLessThan(report.bytesBefore);
      await expectExact(db, model);
      // A second compaction starts from a log read through frames that the first one wrote.
      await db.compact();
      await expectExact(db, model);
      expect(fs.existsSync(`${file}.compact`)).toBe(false);
    } finally {
      await db.close();
    }
    db = await Emdb.open<Buffer>(file, options);
    try {
      await expectExact(db, model);
    } finally {
      await db.close();
    }
  });

  it('fails with ERR_EMDB_CORRUPTION at the damaged page when the old log has one, leaving the file unchanged and every other key readable', async () => {
    const { file, model, key: damaged, at } = await damagedDatabase(newDir());
    const db = await Emdb.open<Buffer>(file, { cacheSize: TINY });
    const before = sha(file);
    try {
      const error = await db.compact({ force: true }).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error).toMatchObject({ code: ErrorCode.CORRUPTION });
      const offset = (error as { offset?: number }).offset;
      expect(offset).toBeLessThanOrEqual(at);
      expect(offset).toBeGreaterThan(at - 2 * 65536);
      expect(sha(file)).toBe(before);
      expect(fs.existsSync(`${file}.compact`)).toBe(false);
      expect([...model].filter(([k, v]) => k !== damaged && !db.getSync(k)?.equals(v)).map(([k]) => k)).toEqual([]);
    } finally {
      await db.close().catch(() => undefined);
    }
  });
});
