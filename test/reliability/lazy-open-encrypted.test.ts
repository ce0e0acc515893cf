/**
 * Lazy reopen of an encrypted database read through the page cache: the index
 * snapshot carries the log's unit directory (snapshot section UNIT_DIRECTORY,
 * sealed with the body), so a reopen reads the header, the snapshot and the
 * records after the snapshot's tail, and no unit before it; each unit is
 * authenticated when a thread first reads it (docs/DESIGN.md, "Encrypted logs
 * in the cache"). A snapshot that does not chain to the header slot (damage
 * after its tail) sends the open back to the whole-log walk, which reports
 * the damage. A session that kept the log whole writes the directory too.
 * The suite sets EMDB_LAZY_OPEN_MIN_BYTES=0 so small logs open
 * lazily too.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DATA_START } from '../../dist/src/format/constants.js';
import { nodeFileIO, type FileIO } from '../../dist/src/log/file-io.js';
import { createControlBlock } from '../../dist/src/shm/shared-view.js';
import { WriterEngine } from '../../dist/src/writer/engine.js';
import { Emdb, EmdbError, ErrorCode, FIXTURES, tempDirs } from '../helpers/common.js';
import { expectEveryValue } from '../helpers/exact-reads.js';
import { useEnv } from '../helpers/lazy-db.js';
import { openOrRelease } from '../helpers/sim/engine-harness.js';

const TINY = 128 * 1024;
const PAGE = 64 * 1024;
type Model = Map<string, Buffer>;
const key = (i: number): string => `key-${String(i).padStart(6, '0')}`;
const valueOf = (i: number, round: number): Buffer => Buffer.alloc(100 + ((i * 37 + round) % 400), `${i}:${round}|`);
const sha = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const encryption = { key: randomBytes(32), cipher: 'aes-256-gcm' as const };
const openCached = (file: string): Promise<Emdb<Buffer>> => Emdb.open<Buffer>(file, { readers: 2, encryption, cacheSize: TINY, rangeScans: true });

/** `n` keys in batches and single writes, closed: a log of ~20× the cache, its snapshot written at close. */
async function build(file: string, n: number, model: Model, round = 0): Promise<void> {
  const db = await openCached(file);
  try {
    for (let b = 0; b < n; b += 500) {
      const entries = Array.from({ length: Math.min(500, n - b) }, (_, j) => [key(b + j), valueOf(b + j, round)] as [string, Buffer]);
      await db.insertMany(entries);
      for (const [k, v] of entries) model.set(k, v);
    }
    for (let i = 0; i < n; i += 9) {
      await db.insert(key(i), valueOf(i, round + 1));
      model.set(key(i), valueOf(i, round + 1));
    }
  } finally {
    await db.close();
  }
}

type Recovery = Awaited<ReturnType<Emdb<Buffer>['stats']>>['recovery'];

/** Opens `file` with the tiny cache, hands `body` the open's recovery report, closes. */
async function reopened(file: string, body: (db: Emdb<Buffer>, recovery: Recovery) => Promise<void>): Promise<void> {
  const db = await openCached(file);
  try {
    await body(db, (await db.stats()).recovery);
  } finally {
    await db.close();
  }
}

/** A file I/O layer that counts the bytes read through descriptors of `file` itself (not its snapshot). */
function countingIO(file: string): { io: FileIO; logBytesRead: () => number } {
  const logFds = new Set<number>();
  let read = 0;
  const io: FileIO = {
    ...nodeFileIO,
    open: (f, flags, like) => {
      const fd = nodeFileIO.open(f, flags, like);
      if (f === file) logFds.add(fd);
      return fd;
    },
    read: (fd, buf, off, len, pos) => {
      const n = nodeFileIO.read(fd, buf, off, len, pos);
      if (logFds.has(fd)) read += n;
      return n;
    },
  };
  return { io, logBytesRead: () => read };
}

describe('lazy reopen of an encrypted database through the page cache', () => {
  const newDir = tempDirs('emdb-lazy-open-encrypted-');
  useEnv({ EMDB_LAZY_OPEN_MIN_BYTES: '0', EMDB_CACHE_SIZE: undefined });

  it('after a clean close: reads no unit before the snapshot tail at open, then every value exactly on every path', async () => {
    const file = path.join(newDir(), 'db.emdb');
    const model: Model = new Map();
    await build(file, 6000, model);
    const size = fs.statSync(file).size;
    expect(size).toBeGreaterThan(15 * TINY);

    // The writer's open on this thread, through a file layer that counts what it reads of the log.
    const { io, logBytesRead } = countingIO(file);
    const engine = openOrRelease(new WriterEngine({ path: file, flushPolicy: { kind: 'onEachFlush' }, io, control: createControlBlock(), publish: () => undefined, encryption, cacheSize: TINY }));
    try {
      const recovery = engine.stats().recovery;
      expect(recovery.mode).toBe('snapshot');
      expect(recovery.recordsReplayed).toBe(0);
      expect(recovery.lazyPages).toBe(Math.ceil(size / PAGE));
      // The header pages and the log's last page (the frames pin the page appends go to), not the ~2 MiB of units before it.
      expect(logBytesRead()).toBeLessThanOrEqual(DATA_START + PAGE);
    } finally {
      engine.close();
    }

    await reopened(file, async (db, recovery) => {
      expect(recovery.lazyPages).toBe(Math.ceil(size / PAGE));
      expect(recovery.recordsReplayed).toBe(0);
      expect((await db.stats()).cache).not.toBeNull();
      await expectEveryValue(db, model);
      // Writes after a lazy open go on the noted directory: new units are read back exactly.
      for (let i = 0; i < 6000; i += 5) {
        await db.insert(key(i), valueOf(i, 7));
        model.set(key(i), valueOf(i, 7));
      }
      await db.removeMany([key(1), key(2)]);
      model.delete(key(1));
      model.delete(key(2));
      await expectEveryValue(db, model);
    });
    await reopened(file, async (again, recovery) => {
      expect(recovery.lazyPages).toBeGreaterThan(0);
      await expectEveryValue(again, model);
      // A compaction reads every old unit: through the cache, authenticated as it goes.
      await again.compact();
      await expectEveryValue(again, model);
    });
    await reopened(file, async (compacted, recovery) => {
      expect(recovery.lazyPages).toBeGreaterThan(0);
      await expectEveryValue(compacted, model);
    });
  });

  it('after a kill -9 past the snapshot: only the records after its tail are replayed, the units before it stay on disk', async () => {
    const file = path.join(newDir(), 'db.emdb');
    const model: Model = new Map();
    await build(file, 4000, model);
    const entry = pathToFileURL(path.resolve(FIXTURES, '..', '..', 'src', 'index.js')).href;
    // Overwrites of old keys (in units the reopen has not read) and new keys, durable, an automatic checkpoint
    // (a header slot past the snapshot), then kill -9: no close, no new snapshot.
    const child = `
      const { Emdb } = await import(${JSON.stringify(entry)});
      const db = await Emdb.open(${JSON.stringify(file)}, { encryption: { key: Buffer.from(${JSON.stringify(encryption.key.toString('hex'))}, 'hex'), cipher: 'aes-256-gcm' }, cacheSize: ${TINY} });
      for (let i = 0; i < 4000; i += 13) await db.insert('key-' + String(i).padStart(6, '0'), Buffer.from('after-' + i));
      for (let i = 0; i < 200; i++) await db.insert('new-' + i, Buffer.from('n' + i));
      await db.remove('key-000003');
      await db.flush();
      await new Promise((r) => setTimeout(r, 1500));
      process.kill(process.pid, 'SIGKILL');`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', child], { env: { ...process.env, EMDB_LAZY_OPEN_MIN_BYTES: '0', EMDB_IDLE_SNAPSHOT_BYTES: '-1' }, encoding: 'utf8' });
    expect(run.signal, run.stderr).toBe('SIGKILL');
    for (let i = 0; i < 4000; i += 13) model.set(key(i), Buffer.from(`after-${i}`));
    for (let i = 0; i < 200; i++) model.set(`new-${i}`, Buffer.from(`n${i}`));
    model.delete(key(3));
    await reopened(file, async (db, recovery) => {
      expect(recovery.mode).toBe('snapshot');
      expect(recovery.lazyPages).toBeGreaterThan(0);
      expect(recovery.recordsReplayed).toBeGreaterThan(0);
      await expectEveryValue(db, model);
      await db.insert('after-reopen', Buffer.from('x'));
      model.set('after-reopen', Buffer.from('x'));
    });
    await reopened(file, (again) => expectEveryValue(again, model));
  });

  it('an older snapshot of the same log chains to the slot: the open stays lazy and replays from its tail', async () => {
    const file = path.join(newDir(), 'db.emdb');
    const model: Model = new Map();
    await build(file, 3000, model);
    const old = fs.readFileSync(`${file}.index`);
    await build(file, 3000, model, 4);
    fs.writeFileSync(`${file}.index`, old);
    await reopened(file, async (db, recovery) => {
      expect(recovery.mode).toBe('snapshot');
      expect(recovery.lazyPages).toBeGreaterThan(0);
      expect(recovery.recordsReplayed).toBeGreaterThan(0);
      await expectEveryValue(db, model);
    });
  });

  it('damage after the snapshot tail breaks the chain: the open walks the whole log and refuses it at the damaged unit, the file unchanged', async () => {
    const file = path.join(newDir(), 'db.emdb');
    const model: Model = new Map();
    await build(file, 3000, model);
    const oldTail = fs.statSync(file).size;
    const old = fs.readFileSync(`${file}.index`);
    await build(file, 3000, model, 4);
    const newTail = fs.statSync(file).size;
    fs.writeFileSync(`${file}.index`, old);
    const at = Math.floor((oldTail + newTail) / 2);
    const fd = fs.openSync(file, 'r+');
    const byte = Buffer.alloc(1);
    fs.readSync(fd, byte, 0, 1, at);
    fs.writeSync(fd, Buffer.from([byte[0]! ^ 0x04]), 0, 1, at);
    fs.closeSync(fd);
    const before = sha(file);
    const err = await openCached(file).then(
      async (db) => {
        await db.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(EmdbError);
    expect((err as EmdbError).code).toBe(ErrorCode.CORRUPTION);
    const offset = (err as { offset?: number }).offset!;
    expect(offset).toBeGreaterThanOrEqual(oldTail);
    expect(offset).toBeLessThanOrEqual(at);
    expect(sha(file)).toBe(before);
  });

  it('a session that kept the log whole (no cacheSize) writes the unit directory too: the next open through the cache is lazy', async () => {
    const file = path.join(newDir(), 'db.emdb');
    const model: Model = new Map();
    // No cacheSize: this small log is kept whole; its snapshot's unit directory is noted from the mirror's item headers.
    const whole = await Emdb.open<Buffer>(file, { encryption });
    for (let i = 0; i < 3000; i++) model.set(key(i), valueOf(i, 0));
    await whole.insertMany([...model]);
    for (let i = 0; i < 3000; i += 7) {
      await whole.insert(key(i), valueOf(i, 1));
      model.set(key(i), valueOf(i, 1));
    }
    expect((await whole.stats()).cache).toBeNull();
    await whole.close();
    await reopened(file, async (db, recovery) => {
      expect(recovery.mode).toBe('snapshot');
      expect(recovery.lazyPages).toBe(Math.ceil(fs.statSync(file).size / PAGE));
      await expectEveryValue(db, model);
      await db.insert('after', Buffer.from('x'));
      model.set('after', Buffer.from('x'));
    });
    // And back: a whole-log open of the snapshot the cached session wrote.
    const again = await Emdb.open<Buffer>(file, { encryption });
    try {
      expect((await again.stats()).recovery.mode).toBe('snapshot');
      await expectEveryValue(again, model);
    } finally {
      await again.close();
    }
  });
});
