/**
 * The page cache's default (OpenOptions.cacheSize unset; writer/cache-plan.ts):
 * a log larger than a quarter of the memory budget is read through a cache of
 * an eighth of it, a smaller one is kept whole, a log that grows past the
 * threshold while open is switched to the cache by the writer's timer (every
 * acknowledged write readable through the switch), and `cacheSize: Infinity`
 * keeps any log whole. The budget is forced small with EMDB_MEMORY_BUDGET
 * (the machine's memory, or its container's limit, otherwise).
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Emdb, ErrorCode, FIXTURES, tempDirs } from '../helpers/common.js';
import { useEnv } from '../helpers/lazy-db.js';

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
  // The tiny-cache tier's setting would stand in for the default: this file is about the default itself.
  useEnv({ EMDB_MEMORY_BUDGET: String(BUDGET), EMDB_CACHE_SIZE: undefined });

  it('keeps a log under a quarter of the budget whole, frames a larger one at open with an eighth of the budget, and keeps any log whole with Infinity', async () => {
    const file = path.join(newDir(), 'db.emdb');
    let db = await Emdb.open<Buffer>(file);
    try {
      await fill(db, 0, 4000); // ~2 MiB: under the 4 MiB threshold
      expect((await db.stats()).cache).toBeNull();
    } finally {
      await db.close();
    }
    db = await Emdb.open<Buffer>(file);
    try {
      expect((await db.stats()).cache).toBeNull();
      expectValues(db, 4000);
    } finally {
      await db.close();
    }
    db = await Emdb.open<Buffer>(file, { cacheSize: Infinity });
    try {
      await fill(db, 4000, 12_000); // ~6.5 MiB now
      // The timer's check runs every 250 ms: with Infinity it never switches.
      await new Promise((r) => setTimeout(r, 600));
      expect((await db.stats()).cache).toBeNull();
    } finally {
      await db.close();
    }
    db = await Emdb.open<Buffer>(file);
    try {
      const stats = await db.stats();
      expect(stats.fileBytes).toBeGreaterThan(BUDGET / 4);
      expect(stats.cache?.bytes).toBe(BUDGET / 8);
      expectValues(db, 12_000);
      // A compaction to under the threshold keeps the cache for this open.
      await db.removeMany(Array.from({ length: 10_000 }, (_, i) => key(i)));
      await db.compact();
      expect((await db.stats()).cache?.bytes).toBe(BUDGET / 8);
    } finally {
      await db.close();
    }
    db = await Emdb.open<Buffer>(file);
    try {
      expect((await db.stats()).cache).toBeNull();
      const wrong: string[] = [];
      for (let i = 10_000; i < 12_000; i++) if (!db.getSync(key(i))?.equals(value(i))) wrong.push(key(i));
      expect(wrong).toEqual([]);
    } finally {
      await db.close();
    }
  });

  it.each([
    ['plaintext', {}],
    // Encrypted: the whole log's mirror form is noted into a unit directory at the switch, and misses open sealed units.
    ['encrypted', { encryption: { key: Buffer.alloc(32, 0x2e) } }],
  ])('%s: switches to the cache while open once the log grows past the threshold, every acknowledged write readable through the switch', async (_kind, options) => {
    const file = path.join(newDir(), 'db.emdb');
    const db = await Emdb.open<Buffer>(file, options);
    // An attached thread reads the newest acknowledged keys without pause: a read that began on the old buffer set
    // must not miss a write acknowledged after the switch.
    const words = new Int32Array(new SharedArrayBuffer(8));
    const reader = new Worker(path.join(FIXTURES, 'attached-recent-reader.js'), { workerData: { handle: db.handle(), words: words.buffer } });
    const messages: { t: string; reads?: number; missed?: string[]; missedCount?: number }[] = [];
    reader.on('message', (m: (typeof messages)[number]) => messages.push(m));
    while (!messages.some((m) => m.t === 'ready')) await new Promise((r) => setTimeout(r, 5));
    try {
      const wrong: string[] = [];
      let n = 0;
      let switchedAt = -1;
      const deadline = Date.now() + 30_000;
      // Past the 4 MiB threshold the writer's timer (250 ms) switches; reads go on at every step around it.
      while ((switchedAt < 0 || n < switchedAt + 4000) && Date.now() < deadline) {
        await fill(db, n, n + 200);
        n += 200;
        Atomics.store(words, 0, n);
        for (let i = n - 200; i < n; i += 7) if (!db.getSync(key(i))?.equals(value(i))) wrong.push(key(i));
        for (let r = 0; r < 20; r++) {
          const i = Math.floor(Math.random() * n);
          if (!db.getSync(key(i))?.equals(value(i))) wrong.push(key(i));
        }
        if (switchedAt < 0 && (await db.stats()).cache !== null) switchedAt = n;
      }
      Atomics.store(words, 1, 1);
      while (!messages.some((m) => m.t === 'done')) await new Promise((r) => setTimeout(r, 5));
      const report = messages.find((m) => m.t === 'done')!;
      expect(report.reads).toBeGreaterThan(1000);
      expect(report.missed).toEqual([]);
      expect(wrong).toEqual([]);
      expect(switchedAt).toBeGreaterThan(0);
      const stats = await db.stats();
      expect(stats.cache?.bytes).toBe(BUDGET / 8);
      expectValues(db, n);
    } finally {
      Atomics.store(words, 1, 1);
      await reader.terminate();
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
