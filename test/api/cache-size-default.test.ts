/**
 * The page cache's default (OpenOptions.cacheSize unset; writer/cache-plan.ts):
 * a log larger than a quarter of the memory budget is read through a cache of
 * an eighth of it, a smaller one is kept whole, a log that grows past the
 * threshold is framed at its next compaction, and `cacheSize: Infinity`
 * keeps any log whole. The budget is forced small with EMDB_MEMORY_BUDGET
 * (the machine's memory, or its container's limit, otherwise).
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Emdb, ErrorCode, tempDirs } from '../helpers/common.js';

const MiB = 1024 * 1024;
const BUDGET = 16 * MiB;
const key = (i: number): string => `key-${String(i).padStart(7, '0')}`;
const value = (i: number): Buffer => Buffer.alloc(500, i % 251);

async function fill(db: Emdb<Buffer>, from: number, to: number): Promise<void> {
  await db.insertMany(
    (function* () {
      for (let i = from; i < to; i++) yield [key(i), value(i)] as [string, Buffer];
    })(),
  );
}

function expectValues(db: Emdb<Buffer>, n: number): void {
  const wrong: string[] = [];
  for (let i = 0; i < n; i += 3) if (!db.getSync(key(i))?.equals(value(i))) wrong.push(key(i));
  expect(wrong).toEqual([]);
}

describe('the default page cache', () => {
  const newDir = tempDirs('emdb-cache-default-');
  const saved = { budget: process.env.EMDB_MEMORY_BUDGET, tier: process.env.EMDB_CACHE_SIZE };
  beforeAll(() => {
    process.env.EMDB_MEMORY_BUDGET = String(BUDGET);
    // The tiny-cache tier's setting would stand in for the default: this file is about the default itself.
    delete process.env.EMDB_CACHE_SIZE;
  });
  afterAll(() => {
    for (const [name, was] of [['EMDB_MEMORY_BUDGET', saved.budget], ['EMDB_CACHE_SIZE', saved.tier]] as const) {
      if (was === undefined) delete process.env[name];
      else process.env[name] = was;
    }
  });

  it('keeps a log under a quarter of the budget whole, frames it at the compaction after it grew past, and with an eighth of the budget at the next open', async () => {
    const file = path.join(newDir(), 'db.emdb');
    let db = await Emdb.open<Buffer>(file);
    try {
      await fill(db, 0, 4000); // ~2 MiB: under the 4 MiB threshold
      expect((await db.stats()).cache).toBeNull();
      await fill(db, 4000, 12_000); // ~6.5 MiB now
      expect((await db.stats()).cache).toBeNull(); // decided at open and at compactions only
      await db.removeMany(Array.from({ length: 1000 }, (_, i) => key(i * 12 + 1)));
      await db.compact({ force: true });
      const stats = await db.stats();
      expect(stats.fileBytes).toBeGreaterThan(BUDGET / 4);
      expect(stats.cache?.bytes).toBe(BUDGET / 8);
      expectValues(db, 12_000);
    } finally {
      await db.close();
    }
    db = await Emdb.open<Buffer>(file);
    try {
      expect((await db.stats()).cache?.bytes).toBe(BUDGET / 8);
      expectValues(db, 12_000);
    } finally {
      await db.close();
    }
    db = await Emdb.open<Buffer>(file, { cacheSize: Infinity });
    try {
      expect((await db.stats()).cache).toBeNull();
      expectValues(db, 12_000);
    } finally {
      await db.close();
    }
  });

  it('refuses cacheSize values other than Infinity and whole numbers of bytes in range', async () => {
    const file = path.join(newDir(), 'db.emdb');
    for (const bad of [-Infinity, NaN, 0, 1.5, 65536]) {
      await expect(Emdb.open(file, { cacheSize: bad })).rejects.toMatchObject({ code: ErrorCode.INVALID_CONFIG });
    }
  });
});
