/**
 * The bounded page cache (OpenOptions.cacheSize) on encrypted databases: the
 * log is read through 64 KiB frames of plaintext and preads of sealed units
 * opened on the reading thread, never kept whole (docs/DESIGN.md, "Bounded
 * page cache", step 5). A record scheme 1 file (one seal per record, written
 * by older builds) keeps its whole log until a key rotation converts it.
 * Every value is exact on every read path (an attached thread's too), for
 * both ciphers and both record schemes, across reopen, compaction and backup,
 * for values larger than the cache; a wrong key is still refused; a bit
 * flipped on a cold page, before a reopen or under the open database, is
 * ERR_EMDB_CORRUPTION with an offset, never a wrong value. Each check that
 * the cache is in use is an expect.soft, so the value checks run either way.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { setNewFileScheme } from '../../dist/src/crypto/keys.js';
import { PRELUDE } from '../../dist/src/format/constants.js';
import { nodeFileIO } from '../../dist/src/log/file-io.js';
import { createControlBlock } from '../../dist/src/shm/shared-view.js';
import { WriterEngine } from '../../dist/src/writer/engine.js';
import { collect, Emdb, EmdbError, ErrorCode, FIXTURES, tempDirs } from '../helpers/common.js';
import { expectEveryValue } from '../helpers/exact-reads.js';
import { until, useEnv } from '../helpers/lazy-db.js';
import { encodeUnits, openOrRelease, type Put } from '../helpers/sim/engine-harness.js';

/** Two 64 KiB frames: the logs below are 15 to 20 times the cache. */
const TINY = 128 * 1024;
const N = 1500;
type Cipher = 'aes-256-gcm' | 'chacha20-poly1305';
type Model = Map<string, Buffer>;
const CIPHERS: Cipher[] = ['aes-256-gcm', 'chacha20-poly1305'];
const key = (i: number): string => `key-${String(i).padStart(6, '0')}`;
const sha = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** 200..2000 printable ASCII bytes (an attached worker compares them as strings). */
function valueOf(i: number, round: number, len = 200 + ((i * 379 + round * 101) % 1800)): Buffer {
  const v = Buffer.alloc(len);
  for (let j = 0; j < len; j++) v[j] = 33 + ((i * 31 + j * 7 + round * 13) % 94);
  return v;
}

/** insertMany, single inserts, a transaction, removeMany and single removes, mirrored in `model`. */
async function fill(db: Emdb<Buffer>, model: Model): Promise<void> {
  const entries = Array.from({ length: N }, (_, i) => [key(i), valueOf(i, 0)] as [string, Buffer]);
  await db.insertMany(entries);
  for (const [k, v] of entries) model.set(k, v);
  for (let i = 0; i < N; i += 7) {
    await db.insert(key(i), valueOf(i, 1));
    model.set(key(i), valueOf(i, 1));
  }
  await db.transaction(async (tx) => {
    for (let i = N; i < N + 150; i++) await tx.insert(key(i), valueOf(i, 2));
    for (let i = 1; i < N; i += 50) await tx.insert(key(i), valueOf(i, 3));
    await tx.remove(key(2));
  });
  for (let i = N; i < N + 150; i++) model.set(key(i), valueOf(i, 2));
  for (let i = 1; i < N; i += 50) model.set(key(i), valueOf(i, 3));
  model.delete(key(2));
  const removals = [...model.keys()].filter((_, j) => j % 11 === 3);
  await db.removeMany(removals);
  for (const k of removals) model.delete(k);
  for (let i = 5; i < N; i += 97) {
    await db.remove(key(i));
    model.delete(key(i));
  }
}

/** Every value exact through getSync, get, getMany, iter and rangeIter; removed keys absent. */
async function expectExact(db: Emdb<Buffer>, model: Model): Promise<void> {
  await expectEveryValue(db, model);
  const absent: string[] = [];
  for (let i = 0; i < N + 200; i++) if (!model.has(key(i)) && db.getSync(key(i)) !== undefined) absent.push(key(i));
  expect(absent, 'removed keys').toEqual([]);
  const ranged = await collect(db.rangeIter({ gte: key(300), lt: key(900) }));
  expect(ranged.filter(([k, v]) => !model.get(k.toString())?.equals(v)).map(([k]) => k.toString()), 'rangeIter').toEqual([]);
  expect(ranged.map(([k]) => k.toString())).toEqual([...model.keys()].filter((k) => k >= key(300) && k < key(900)).sort());
}

/** The log goes through the page cache (the assertions that fail while encrypted logs are kept whole). */
async function expectCacheInUse(db: Emdb<Buffer>, minLog = 10 * TINY): Promise<void> {
  const stats = await db.stats();
  expect(stats.fileBytes).toBeGreaterThan(minLog);
  expect.soft(stats.cache, 'an encrypted database opened with cacheSize reads its log through the page cache').not.toBeNull();
  if (!stats.cache) return;
  expect.soft(stats.cache.bytes).toBe(TINY);
  expect.soft(stats.cache.residentBytes).toBeLessThanOrEqual(TINY);
  // Appends evict at once; after a reopen, reads mark cold pages wanted and the writer loads them in its idle time.
  const evicted = await until(async () => ((await db.stats()).cache?.evictions ?? 0) > 0);
  expect.soft(evicted, 'pages were evicted (the log went through the cache)').toBe(true);
}

type Enc = { key: Uint8Array; cipher?: Cipher };
const openCached = (file: string, encryption: Enc, rangeScans = true): Promise<Emdb<Buffer>> =>
  Emdb.open<Buffer>(file, { readers: 2, encryption, cacheSize: TINY, ...(rangeScans ? { rangeScans: true } : {}) });

/** Opens `file` with the tiny cache, runs `body`, closes. */
async function withOpen(file: string, encryption: Enc, body: (db: Emdb<Buffer>) => Promise<void>, rangeScans = true): Promise<void> {
  const db = await openCached(file, encryption, rangeScans);
  try {
    await body(db);
  } finally {
    await db.close();
  }
}

/** Every value exact through every path, with the log read through the cache. */
const exactAndCached = (model: Model, minLog = 10 * TINY) => async (db: Emdb<Buffer>): Promise<void> => {
  await expectExact(db, model);
  await expectCacheInUse(db, minLog);
};

/** A closed record scheme 1 file (one seal per record), written by the engine on this thread; returns its log end. */
function buildScheme1(file: string, encryption: Enc, model: Model): number {
  setNewFileScheme(1);
  try {
    const engine = openOrRelease(new WriterEngine({ path: file, flushPolicy: { kind: 'onEachFlush' }, io: nodeFileIO, control: createControlBlock(), publish: () => undefined, encryption }));
    const put = (i: number, round: number): Put => ({ t: 'put', k: key(i), v: valueOf(i, round).toString('latin1') });
    const append = (units: Parameters<typeof encodeUnits>[0]): void => {
      const { batch, records } = encodeUnits(units);
      engine.append(batch, false, records);
    };
    for (let b = 0; b < N; b += 100) append([{ t: 'many', entries: Array.from({ length: 100 }, (_, j) => put(b + j, 0)) }]);
    for (let i = 0; i < N; i += 7) append([put(i, 1)]);
    append([{ t: 'tx', ops: [put(N, 2), { t: 'del', k: key(3) }] }]);
    engine.flush();
    const end = engine.stats().fileBytes;
    expect(engine.close()).toBeUndefined();
    for (let i = 0; i < N; i++) model.set(key(i), valueOf(i, i % 7 === 0 ? 1 : 0));
    model.set(key(N), valueOf(N, 2));
    model.delete(key(3));
    expect(fs.readFileSync(file)[PRELUDE.RECORD_SCHEME]).toBe(1);
    return end;
  } finally {
    setNewFileScheme(2);
  }
}

describe('cacheSize on an encrypted database', () => {
  const newDir = tempDirs('emdb-cache-encrypted-');
  // Small logs reopen lazily too where the engine can: no whole-log read at open that would meet damage first.
  // The eviction checks need the writer's idle fill of wanted pages, which the lazy tier's EMDB_LAZY_WARM=0 turns off.
  useEnv({ EMDB_LAZY_OPEN_MIN_BYTES: '0', EMDB_LAZY_WARM: undefined });

  for (const cipher of CIPHERS) {
    it(`${cipher}: reads every value exactly through the bounded cache on every path, after reopen and from a backup; a wrong key is still refused`, async () => {
      const dir = newDir();
      const file = path.join(dir, 'db.emdb');
      const target = path.join(dir, 'backup.emdb');
      const encryption = { key: randomBytes(32), cipher };
      const model: Model = new Map();
      await withOpen(file, encryption, async (db) => {
        await fill(db, model);
        await exactAndCached(model)(db);
        await db.backupTo(target);
      });
      await withOpen(file, encryption, exactAndCached(model));
      const before = sha(file);
      await expect(openCached(file, { key: randomBytes(32), cipher })).rejects.toMatchObject({ code: ErrorCode.ENCRYPTION_KEY_MISMATCH });
      expect(sha(file)).toBe(before);
      // The backup: same key, same content.
      await withOpen(target, encryption, exactAndCached(model));
    });

    it(`${cipher}: compaction with removes between keeps every value exact, and after reopen`, async () => {
      const file = path.join(newDir(), 'db.emdb');
      const encryption = { key: randomBytes(32), cipher };
      const model: Model = new Map();
      await withOpen(file, encryption, async (db) => {
        await fill(db, model);
        const removals = [...model.keys()].filter((_, j) => j % 3 === 1);
        await db.removeMany(removals);
        for (const k of removals) model.delete(k);
        const report = await db.compact();
        expect(report.bytesAfter).toBeLessThan(report.bytesBefore);
        await expectExact(db, model);
        for (let i = 0; i < N; i += 4) {
          if (i % 8 === 0) {
            await db.remove(key(i));
            model.delete(key(i));
          } else {
            await db.insert(key(i), valueOf(i, 5));
            model.set(key(i), valueOf(i, 5));
          }
        }
        await db.compact();
        await exactAndCached(model, 5 * TINY)(db);
        expect(fs.existsSync(`${file}.compact`)).toBe(false);
      });
      await withOpen(file, encryption, exactAndCached(model, 5 * TINY));
    });
  }

  it('a record scheme 1 file (one seal per record) keeps its whole log, takes writes and compacts; a key rotation converts it to units read through the cache', async () => {
    const file = path.join(newDir(), 'db.emdb');
    const encryption = { key: randomBytes(32), cipher: 'aes-256-gcm' as const };
    const model: Model = new Map();
    buildScheme1(file, encryption, model);
    await withOpen(file, encryption, async (db) => {
      await expectExact(db, model);
      expect((await db.stats()).cache).toBeNull();
      for (let i = 0; i < N; i += 9) {
        await db.insert(key(i), valueOf(i, 7));
        model.set(key(i), valueOf(i, 7));
      }
      await db.compact({ force: true });
      await expectExact(db, model);
    });
    await Emdb.rotateEncryptionKey(file, encryption, encryption);
    expect(fs.readFileSync(file)[137]).toBe(2);
    await withOpen(file, encryption, exactAndCached(model));
  });

  // Damage found by the open's walk of the log, or (flipped under an open database) by the reads that miss the cache.
  for (const [scheme, when] of [[2, 'before a reopen'], [1, 'before a reopen'], [2, 'under the open database'], [1, 'under the open database']] as const) {
    it(`record scheme ${scheme}, flipped ${when}: a bit flipped in a sealed region of a cold page is ERR_EMDB_CORRUPTION with an offset, never a wrong value`, async () => {
      const file = path.join(newDir(), 'db.emdb');
      const encryption = { key: randomBytes(32), cipher: 'chacha20-poly1305' as const };
      const model: Model = new Map();
      let db: Emdb<Buffer> | undefined;
      let end = 0;
      if (scheme === 1) end = buildScheme1(file, encryption, model);
      else {
        const filled = async (open: Emdb<Buffer>): Promise<void> => {
          await fill(open, model);
          end = (await open.stats()).fileBytes;
        };
        await withOpen(file, encryption, filled, false);
      }
      if (when === 'under the open database') db = await openCached(file, encryption, false);
      // 40 % into the log: inside a batch of records, well past the header, far from the tail and its frames.
      const at = Math.floor(end * 0.4);
      const fd = fs.openSync(file, 'r+');
      const byte = Buffer.alloc(1);
      fs.readSync(fd, byte, 0, 1, at);
      fs.writeSync(fd, Buffer.from([byte[0]! ^ 0x10]), 0, 1, at);
      fs.closeSync(fd);

      const errors: unknown[] = [];
      const wrong: string[] = [];
      // Runs one read (or the open); a throw or rejection is collected.
      const attempt = (read: () => unknown): Promise<void> => Promise.resolve().then(read).then(() => undefined, (err: unknown) => void errors.push(err));
      if (!db) await attempt(async () => (db = await openCached(file, encryption, false)));
      // A scheme 1 file keeps its whole log in memory, where a flip under the open database is never seen.
      let cached = true;
      if (db) {
        const open = db;
        try {
          cached = (await open.stats()).cache !== null;
          expect(cached, 'a scheme 2 file opened with cacheSize reads its log through the page cache').toBe(scheme === 2);
          for (const [k, v] of model) {
            await attempt(() => open.getSync(k)?.equals(v) || wrong.push(`getSync ${k}`));
            await attempt(async () => (await open.get(k))?.equals(v) || wrong.push(`get ${k}`));
          }
          const keys = [...model.keys()];
          for (let i = 0; i < keys.length; i += 50) {
            const chunk = keys.slice(i, i + 50);
            await attempt(async () => (await open.getMany(chunk)).forEach((v, j) => v?.equals(model.get(chunk[j]!)!) || wrong.push(`getMany ${chunk[j]}`)));
          }
          await attempt(async () => {
            for await (const [k, v] of open.iter()) if (!model.get(k.toString())?.equals(v)) wrong.push(`iter ${k.toString()}`);
          });
        } finally {
          await open.close().catch(() => undefined);
        }
      }
      expect(wrong, 'no read returns a value other than the one written').toEqual([]);
      if (cached) expect(errors.length).toBeGreaterThan(0);
      for (const err of errors) {
        expect(err).toBeInstanceOf(EmdbError);
        expect((err as EmdbError).code).toBe(ErrorCode.CORRUPTION);
        const offset = (err as { offset?: unknown }).offset;
        expect(typeof offset).toBe('number');
        expect(offset as number).toBeLessThanOrEqual(at);
        expect(offset as number).toBeGreaterThan(at - 2 * 65536);
      }
    });
  }

  it('values larger than the whole cache round-trip, through every path and after reopen', async () => {
    const file = path.join(newDir(), 'db.emdb');
    const encryption = { key: randomBytes(32), cipher: 'aes-256-gcm' as const };
    const model: Model = new Map();
    const big = (k: string, seed: number, len: number): Buffer => model.set(k, valueOf(seed, 0, len)).get(k)!;
    await withOpen(file, encryption, async (db) => {
      await db.insert('big-300k', big('big-300k', 1, 300 * 1024));
      await db.insertMany([
        ['big-1m', big('big-1m', 2, 1024 * 1024)],
        [key(0), big(key(0), 0, 500)],
      ]);
      await db.transaction(async (tx) => {
        await tx.insert('big-tx', big('big-tx', 3, 200 * 1024));
        await tx.insert(key(1), big(key(1), 1, 700));
      });
      // Then a log's worth of small records, so the large ones are cold.
      const entries = Array.from({ length: 1000 }, (_, i) => [key(i + 2), valueOf(i + 2, 0)] as [string, Buffer]);
      await db.insertMany(entries);
      for (const [k, v] of entries) model.set(k, v);
      await exactAndCached(model)(db);
    });
    await withOpen(file, encryption, exactAndCached(model));
  });

  it('a thread attached with db.handle() reads cold records of an encrypted cached database exactly', async () => {
    const file = path.join(newDir(), 'db.emdb');
    const model: Model = new Map();
    const db = await openCached(file, { key: randomBytes(32), cipher: 'chacha20-poly1305' }, false);
    const worker = new Worker(path.join(FIXTURES, 'attached-worker.js'), { workerData: db.handle() });
    const attached = new Promise((resolve) => worker.once('message', resolve));
    try {
      await fill(db, model);
      await expectCacheInUse(db);
      await attached;
      const wrong: string[] = [];
      for (const [k, v] of [...model].filter((_, j) => j % 29 === 0)) {
        const reply = await new Promise<{ viaGet?: string; viaSync?: string }>((resolve) => {
          worker.once('message', resolve);
          worker.postMessage({ t: 'read', key: k });
        });
        if (reply.viaGet !== v.toString() || reply.viaSync !== v.toString()) wrong.push(k);
      }
      expect(wrong).toEqual([]);
    } finally {
      await worker.terminate();
      await db.close();
    }
  });
});
