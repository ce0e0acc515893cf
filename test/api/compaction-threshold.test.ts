/**
 * compact() leaves a log with little to reclaim as it is (less than 20 % of
 * its record bytes, at 4 MiB and up) and says so (`skipped`); `force: true`
 * rewrites it anyway; a log past the threshold, or a small one, is rewritten.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb } from 'emdb-js';
import { tempDirs } from '../helpers/common.js';

const VALUE = 'v'.repeat(150);

async function filled(file: string, keys: number, overwrite: number): Promise<Emdb> {
  const db = await Emdb.open(file, { readers: 1 });
  await db.insertMany(Array.from({ length: keys }, (_, i) => [`k${i}`, VALUE] as [string, string]));
  if (overwrite > 0) await db.insertMany(Array.from({ length: overwrite }, (_, i) => [`k${i}`, `${VALUE}!`] as [string, string]));
  await db.flush();
  return db;
}

describe('compaction threshold', () => {
  const newDir = tempDirs();

  it('skips a 4 MiB+ log with under 20 % to reclaim, unless forced', async () => {
    const file = path.join(newDir(), 't.emdb');
    const db = await filled(file, 40_000, 4_000);
    try {
      const size = fs.statSync(file).size;
      const ino = fs.statSync(file).ino;
      expect(size).toBeGreaterThan(4 << 20);
      const skipped = await db.compact();
      expect(skipped).toMatchObject({ skipped: true, bytesBefore: size, bytesAfter: size, deadBytesDropped: 0, keysKept: 40_000 });
      expect(fs.statSync(file).ino).toBe(ino);
      expect((await db.stats()).lastCompactionAt).toBe(0);
      const forced = await db.compact({ force: true });
      expect(forced.skipped).toBe(false);
      expect(forced.bytesAfter).toBeLessThan(size);
      expect(fs.statSync(file).ino).not.toBe(ino);
      expect(db.getSync('k1')?.toString()).toBe(`${VALUE}!`);
      expect(await db.len()).toBe(40_000);
    } finally {
      await db.close();
    }
  }, 60_000);

  it('rewrites a log past the threshold without force, and a small log always', async () => {
    const dir = newDir();
    const big = await filled(path.join(dir, 'b.emdb'), 40_000, 12_000);
    try {
      const report = await big.compact();
      expect(report.skipped).toBe(false);
      expect(report.deadBytesDropped).toBeGreaterThan(0);
    } finally {
      await big.close();
    }
    const small = await filled(path.join(dir, 's.emdb'), 100, 0);
    try {
      expect((await small.compact()).skipped).toBe(false);
    } finally {
      await small.close();
    }
  }, 60_000);

  it('refuses options that are not { force?: boolean }', async () => {
    const db = await Emdb.openInMemory({ readers: 1 });
    try {
      await expect(db.compact({ force: 'yes' as unknown as boolean })).rejects.toMatchObject({ code: 'ERR_EMDB_INVALID_CONFIG' });
      await expect(db.compact(null as never)).rejects.toMatchObject({ code: 'ERR_EMDB_INVALID_CONFIG' });
    } finally {
      await db.close();
    }
  });

  it('refuses a misspelled option instead of ignoring it (a typo would silently skip a forced rewrite)', async () => {
    const db = await Emdb.openInMemory({ readers: 1 });
    try {
      await expect(db.compact({ forse: true } as never)).rejects.toMatchObject({ code: 'ERR_EMDB_INVALID_CONFIG', message: expect.stringContaining('did you mean force?') });
    } finally {
      await db.close();
    }
  });
});
