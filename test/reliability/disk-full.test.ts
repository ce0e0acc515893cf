/**
 * Disk full and failed fsync, on real file systems where this machine allows
 * mounting them (root), and in-process through the FileIO seam everywhere.
 *
 * Contract under test:
 *  - a write that finds the disk full (ENOSPC/EDQUOT) fails with ERR_EMDB_IO
 *    carrying the cause, leaves no byte of itself in the file, and does NOT
 *    poison the handle: reads keep working, and writes resume once there is room;
 *  - every other write error, and any failed fdatasync, poisons the handle: every
 *    later write and flush is refused with ERR_EMDB_IO until the database is
 *    reopened (a failed fsync is never retried and assumed good);
 *  - nothing acknowledged is lost and nothing served is corrupt afterwards.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RecordBuffer } from '../../dist/src/core/record-buffer.js';
import { RecordKind } from '../../dist/src/format/constants.js';
import { nodeFileIO, type FileIO } from '../../dist/src/log/file-io.js';
import { createControlBlock } from '../../dist/src/shm/shared-view.js';
import { WriterEngine } from '../../dist/src/writer/engine.js';
import { GroupFlusher } from '../../dist/src/writer/group-flush.js';
import { applyMarkedWrite, type MarkedWriteOutcome } from '../../dist/src/writer/marked-write.js';
import { Emdb, rejectsWithCode, tempDirs } from '../helpers/common.js';
import { walkRecords } from '../helpers/log-image.js';
import {
  deviceMapperUnavailable,
  freeBytes,
  mountThinExt4,
  mountTmpfs,
  thinExt4Unavailable,
  tmpfsUnavailable,
  writeBallast,
  type Mount,
} from '../helpers/real-fs.js';
import { checkValue, makeValue } from '../helpers/value-check.js';

const TMPFS_SKIP = tmpfsUnavailable();
const EXT4_SKIP = TMPFS_SKIP ?? thinExt4Unavailable();
const DM_SKIP = deviceMapperUnavailable();
if (TMPFS_SKIP) console.log(`[disk-full] real tmpfs tier SKIPPED: ${TMPFS_SKIP}`);
if (EXT4_SKIP) console.log(`[disk-full] real failed-fsync tier (loop-mounted ext4 on a full tmpfs) SKIPPED: ${EXT4_SKIP}`);
console.log(
  `[disk-full] device-mapper error target: ${DM_SKIP ? `not used (${DM_SKIP}); the failed fsync comes from a loop device whose backing tmpfs is full, and EIO is also injected in-process` : 'available'}`,
);

type Policy = { kind: 'onEachFlush' } | { kind: 'group'; maxWaitMs: number; maxBatch: number } | { kind: 'writeThrough' };
const POLICIES: Policy[] = [{ kind: 'onEachFlush' }, { kind: 'group', maxWaitMs: 1, maxBatch: 4 }, { kind: 'writeThrough' }];

interface Failure {
  code?: string;
  cause?: { code?: string };
}

async function failureOf(p: Promise<unknown>): Promise<Failure | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return err as Failure;
  }
}

/** Every key of `acked` reads back intact through getSync, get and getMany. */
async function expectAllServed(db: Emdb<Buffer>, acked: Map<string, Buffer>, label: string): Promise<void> {
  const keys = [...acked.keys()];
  const problems: string[] = [];
  const viaGet = await db.getMany(keys);
  keys.forEach((k, i) => {
    for (const [how, v] of [['getSync', db.getSync(k)], ['getMany', viaGet[i]]] as const) {
      if (v === undefined) problems.push(`${k} missing via ${how}`);
      else if (!v.equals(acked.get(k)!)) problems.push(`${k} via ${how}: ${checkValue(k, v) ?? 'a different version'}`);
    }
  });
  expect(problems, label).toEqual([]);
  expect(await db.len(), label).toBe(acked.size);
}

describe.skipIf(TMPFS_SKIP !== undefined)('disk full on a real size-limited tmpfs', () => {
  const mounts: Mount[] = [];
  afterEach(() => mounts.splice(0).forEach((m) => m.unmount()));

  it.each(POLICIES.map((p) => [p.kind, p] as const))(
    '%s: ENOSPC → ERR_EMDB_IO with the cause, reads keep working, nothing lost or torn, writes resume after space is freed',
    async (_kind, policy) => {
      const mount = mountTmpfs(8 << 20);
      mounts.push(mount);
      const file = path.join(mount.dir, 'full.emdb');
      // Ballast frees space later; the fill itself is the database's own writes.
      const ballast = path.join(mount.dir, 'ballast');
      writeBallast(ballast, 2 << 20);
      const db = await Emdb.open(file, { readers: 1, flushPolicy: policy });
      const acked = new Map<string, Buffer>();
      let failure: Failure | undefined;
      let failedKeys: string[] = [];
      let writes = 0;
      // Fill: 48 KiB puts, and every fifth write a 3-entry insertMany chunk (crash-atomic, so all or nothing).
      for (; writes < 1000 && !failure; writes++) {
        if (writes % 5 === 4) {
          const entries = [0, 1, 2].map((j) => [`many-${writes}-${j}`, makeValue(`many-${writes}-${j}`, writes, 40 << 10)] as [string, Buffer]);
          failure = await failureOf(db.insertMany(entries));
          if (!failure) for (const [k, v] of entries) acked.set(k, v);
          else failedKeys = entries.map(([k]) => k);
        } else {
          const key = `put-${writes}`;
          const value = makeValue(key, writes, 48 << 10);
          failure = await failureOf(db.insert(key, value));
          if (!failure) acked.set(key, value);
          else failedKeys = [key];
        }
        if (!failure && writes % 4 === 0) failure = await failureOf(db.flush());
      }
      expect(failure, `the tmpfs never filled up after ${writes} writes`).toBeDefined();
      expect(failure!.code).toBe('ERR_EMDB_IO');
      expect(failure!.cause?.code).toBe('ENOSPC');
      expect(acked.size).toBeGreaterThan(50);

      // Still full: the same kind of write fails the same way (a full disk, not a poisoned handle) …
      const again = await failureOf(db.insert('still-full', makeValue('still-full', 1, 256 << 10)));
      expect(again?.cause?.code).toBe('ENOSPC');
      // … reads keep working, and a compaction (which needs room for a copy) fails cleanly too.
      await expectAllServed(db, acked, 'while the disk is full');
      // Forced: the log has nothing dead, so a plain compact() would skip it (DESIGN.md, "Compaction").
      const compaction = await failureOf(db.compact({ force: true }));
      expect(compaction?.code).toBe('ERR_EMDB_IO');
      expect(compaction?.cause?.code).toBe('ENOSPC');
      expect(fs.existsSync(`${file}.compact`), 'compaction temp file removed').toBe(false);
      await db.flush();

      // Room again: writes resume on the same handle.
      fs.rmSync(ballast);
      for (let i = 0; i < 10; i++) {
        const key = `after-${i}`;
        const value = makeValue(key, i, 48 << 10);
        await db.insert(key, value);
        acked.set(key, value);
      }
      await db.flush();
      await expectAllServed(db, acked, 'after space was freed');
      await db.close();

      // The failed writes left nothing behind: the log is whole records up to its end.
      const image = fs.readFileSync(file);
      expect(walkRecords(image).end, 'no torn bytes after the last record').toBe(image.length);
      const reopened = await Emdb.open(file, { readers: 1, flushPolicy: policy });
      try {
        await expectAllServed(reopened, acked, 'after reopen');
        expect(reopened.getSync('still-full')).toBeUndefined();
        for (const k of failedKeys) expect(reopened.getSync(k), `${k} of the write that hit ENOSPC`).toBeUndefined();
      } finally {
        await reopened.close();
      }
      console.log(`[disk-full] ${policy.kind}: ${acked.size - 10} keys acknowledged before ENOSPC hit write ${writes} (${failedKeys.length > 1 ? 'an insertMany chunk' : 'a put'}); ENOSPC surfaced as ERR_EMDB_IO; 10 writes resumed after freeing 2 MiB; 0 lost, 0 corrupt`);
    },
  );
});

describe.skipIf(EXT4_SKIP !== undefined)('a real failed fdatasync (loop-mounted ext4 whose backing tmpfs runs full)', () => {
  const mounts: Mount[] = [];
  afterEach(() => mounts.splice(0).forEach((m) => m.unmount()));

  it('the failed flush surfaces as ERR_EMDB_IO; the handle then refuses writes (even with room again) until reopened; durable data survives a remount', async () => {
    const ext4 = mountThinExt4(8 << 20, 64 << 20);
    mounts.push(ext4);
    const file = path.join(ext4.dir, 'thin.emdb');
    const db = await Emdb.open(file, { readers: 1 });
    const durable = new Map<string, Buffer>();
    for (let i = 0; i < 20; i++) {
      const key = `durable-${i}`;
      durable.set(key, makeValue(key, i, 2000));
      await db.insert(key, durable.get(key)!);
    }
    await db.flush();
    // Leave the device about 1.5 MiB of real room; ext4 itself believes it has ~55 MiB.
    const ballast = path.join(ext4.backing, 'ballast');
    writeBallast(ballast, Math.max(0, freeBytes(ext4.backing) - (3 << 19)));

    let failure: Failure | undefined;
    let big = 0;
    for (; big < 200 && !failure; big++) {
      const key = `big-${big}`;
      const value = makeValue(key, big, 256 << 10);
      failure = await failureOf(db.insert(key, value));
      if (!failure) failure = await failureOf(db.flush());
      if (!failure) durable.set(key, value);
    }
    expect(failure, 'fdatasync never failed').toBeDefined();
    expect(failure!.code).toBe('ERR_EMDB_IO');
    expect(['EIO', 'ENOSPC']).toContain(failure!.cause?.code);
    const fsyncError = failure!.cause!.code!;

    // Poisoned: writes and flushes are refused, also after the device has room again.
    await rejectsWithCode(db.insert('refused', 'x'), 'ERR_EMDB_IO');
    await rejectsWithCode(db.flush(), 'ERR_EMDB_IO');
    fs.rmSync(ballast);
    await rejectsWithCode(db.insert('refused-with-room', 'x'), 'ERR_EMDB_IO');
    await rejectsWithCode(db.flush(), 'ERR_EMDB_IO');
    // Reads keep working from the shared mirror.
    for (const [k, v] of durable) expect(db.getSync(k)?.equals(v), k).toBe(true);
    // ext4 may have aborted its journal and gone read-only: then the lock file cannot be removed.
    const closeFailure = await failureOf(db.close());
    ext4.remount();
    const lock = `${file}.lock`;
    if (fs.existsSync(lock)) {
      expect(closeFailure?.code, 'a lock file is left only when close reported it').toBe('ERR_EMDB_IO');
      expect(JSON.parse(fs.readFileSync(lock, 'utf8')).pid, 'the leftover lock is ours').toBe(process.pid);
      fs.rmSync(lock);
    }

    // Reopened (after a remount that dropped the page cache): everything acknowledged durable is there and intact.
    const reopened = await Emdb.open(file, { readers: 1 });
    try {
      for (const [k, v] of durable) expect(reopened.getSync(k)?.equals(v), `${k} after remount`).toBe(true);
      const served = await reopened.len();
      expect(served).toBeGreaterThanOrEqual(durable.size);
      for (let i = 0; i < big; i++) {
        const v = reopened.getSync(`big-${i}`);
        if (v !== undefined) expect(checkValue(`big-${i}`, v), `big-${i}`).toBeUndefined();
      }
      await reopened.insert('after-reopen', 'writes again');
      await reopened.flush();
    } finally {
      await reopened.close();
    }
    const last = await Emdb.open(file, { readers: 1 });
    expect(last.getSync('after-reopen')?.toString()).toBe('writes again');
    await last.close();
    console.log(
      `[disk-full] real failed fdatasync: ${fsyncError} after ${durable.size} durable keys (${big - 1} × 256 KiB flushed); writes and flushes refused until reopen; 0 durable keys lost after remount`,
    );
  });
});

type Fault = Error | 'short' | undefined;

interface FaultyIO extends FileIO {
  /** Decides the fate of the n-th write call (counted in `writes`): throw, write half, or pass. */
  failWrite: ((call: number) => Fault) | undefined;
  failSync: Error | undefined;
  failTruncate: Error | undefined;
  writes: number;
}

/** node:fs with write, fdatasync and ftruncate breakable on demand (the in-process tier). */
function faultyIO(): FaultyIO {
  const io: FaultyIO = {
    ...nodeFileIO,
    failWrite: undefined,
    failSync: undefined,
    failTruncate: undefined,
    writes: 0,
    write(fd, buf, off, len, pos) {
      const fault = io.failWrite?.(io.writes++);
      // A short write first, so the failing write leaves a torn tail behind.
      if (fault === 'short') return nodeFileIO.write(fd, buf, off, Math.max(1, len >> 1), pos);
      if (fault) throw fault;
      return nodeFileIO.write(fd, buf, off, len, pos);
    },
    fdatasync(fd) {
      if (io.failSync) throw io.failSync;
      nodeFileIO.fdatasync(fd);
    },
    ftruncate(fd, len) {
      if (io.failTruncate) throw io.failTruncate;
      nodeFileIO.ftruncate(fd, len);
    },
  };
  return io;
}

const sysError = (code: string) => Object.assign(new Error(`${code}: injected`), { code });

function batchOf(entries: [string, string][]): { bytes: Uint8Array; count: number } {
  const records = new RecordBuffer();
  for (const [k, v] of entries) records.append(RecordKind.PUT, 0, k, Buffer.byteLength(k), v, 0);
  const { payload, bytes, count } = records.take();
  return { bytes: new Uint8Array(payload, 0, bytes), count };
}

describe('write and fsync failures through the FileIO seam (in-process writer engine)', () => {
  const newDir = tempDirs('emdb-faults-');

  function openEngine(file: string, io: FileIO): WriterEngine {
    const engine = new WriterEngine({ path: file, flushPolicy: { kind: 'onEachFlush' }, io, control: createControlBlock(), publish: () => undefined });
    engine.open();
    return engine;
  }

  function recordsIn(file: string): number {
    const image = fs.readFileSync(file);
    const walked = walkRecords(image);
    expect(walked.end, 'no torn bytes').toBe(image.length);
    // Durable marks (kind 8, format 3) are framing, not records of the workload.
    return walked.records.filter((r) => r.kind !== 8).length;
  }

  it.each(['ENOSPC', 'EDQUOT'])('%s after a partial write: file cut back, nextLsn unchanged, not poisoned, the next append lands at the same LSN', (code) => {
    const file = path.join(newDir(), 'full.emdb');
    const io = faultyIO();
    const engine = openEngine(file, io);
    const first = batchOf([['a', '1'], ['b', '2']]);
    engine.append(first.bytes, false, first.count);
    engine.flush();
    const before = engine.stats();
    io.writes = 0;
    io.failWrite = (call) => (call === 0 ? 'short' : sysError(code));
    const big = batchOf([['c', 'x'.repeat(5000)]]);
    expect(() => engine.append(big.bytes, false, big.count)).toThrow(expect.objectContaining({ code: 'ERR_EMDB_IO', cause: expect.objectContaining({ code }) }));
    expect(engine.failed, 'not poisoned').toBeUndefined();
    expect(fs.statSync(file).size, 'torn half-write cut off').toBe(before.fileBytes);
    expect(engine.stats()).toMatchObject({ fileBytes: before.fileBytes, records: before.records, durableLsn: before.durableLsn });
    io.failWrite = undefined;
    const next = batchOf([['d', '4']]);
    engine.append(next.bytes, false, next.count);
    engine.flush();
    // Format 3: the first batch after the flush is preceded by a 40-byte DURABLE_MARK (docs/FORMAT.md).
    expect(engine.stats()).toMatchObject({ fileBytes: before.fileBytes + 40 + next.bytes.length, records: 3 });
    engine.close();
    expect(recordsIn(file)).toBe(3);
    const reopened = openEngine(file, nodeFileIO);
    expect(reopened.stats().records).toBe(3);
    reopened.close();
  });

  it('ENOSPC whose rollback truncate also fails → poisoned (a torn tail may remain)', () => {
    const file = path.join(newDir(), 'full.emdb');
    const io = faultyIO();
    const engine = openEngine(file, io);
    io.writes = 0;
    io.failWrite = (call) => (call === 0 ? 'short' : sysError('ENOSPC'));
    io.failTruncate = sysError('EIO');
    const batch = batchOf([['a', 'y'.repeat(3000)]]);
    expect(() => engine.append(batch.bytes, false, batch.count)).toThrow(expect.objectContaining({ code: 'ERR_EMDB_IO' }));
    expect(engine.failed?.code).toBe('ERR_EMDB_IO');
    io.failWrite = undefined;
    io.failTruncate = undefined;
    expect(() => engine.append(batchOf([['b', '2']]).bytes, false, 1)).toThrow(expect.objectContaining({ code: 'ERR_EMDB_IO' }));
    engine.close();
  });

  it.each(['EIO', 'EROFS', 'EFBIG'])('%s on a write poisons: every later write and flush is refused until reopen', (code) => {
    const file = path.join(newDir(), 'eio.emdb');
    const io = faultyIO();
    const engine = openEngine(file, io);
    const first = batchOf([['a', '1']]);
    engine.append(first.bytes, false, first.count);
    io.failWrite = () => sysError(code);
    expect(() => engine.append(batchOf([['b', '2']]).bytes, false, 1)).toThrow(expect.objectContaining({ code: 'ERR_EMDB_IO', cause: expect.objectContaining({ code }) }));
    io.failWrite = undefined;
    expect(engine.failed).toBeDefined();
    expect(() => engine.append(batchOf([['c', '3']]).bytes, false, 1)).toThrow(expect.objectContaining({ code: 'ERR_EMDB_IO' }));
    expect(() => engine.flush()).toThrow(expect.objectContaining({ code: 'ERR_EMDB_IO' }));
    engine.close();
    const reopened = openEngine(file, nodeFileIO);
    reopened.append(batchOf([['d', '4']]).bytes, false, 1);
    expect(reopened.stats().records).toBe(2);
    reopened.close();
  });

  it('a failed fdatasync (EIO) poisons: flush is not retried and assumed good, writes are refused, close does not checkpoint; reopen works', () => {
    const file = path.join(newDir(), 'fsync.emdb');
    const io = faultyIO();
    const engine = openEngine(file, io);
    engine.append(batchOf([['a', '1']]).bytes, false, 1);
    engine.checkpoint();
    const headerBefore = fs.readFileSync(file).subarray(0, 12288);
    engine.append(batchOf([['b', '2']]).bytes, false, 1);
    io.failSync = sysError('EIO');
    expect(() => engine.flush()).toThrow(expect.objectContaining({ code: 'ERR_EMDB_IO', cause: expect.objectContaining({ code: 'EIO' }) }));
    // The device is fine again, but the handle must not trust the lost pages.
    io.failSync = undefined;
    expect(() => engine.flush()).toThrow(expect.objectContaining({ code: 'ERR_EMDB_IO' }));
    expect(() => engine.checkpoint()).toThrow(expect.objectContaining({ code: 'ERR_EMDB_IO' }));
    expect(() => engine.append(batchOf([['c', '3']]).bytes, false, 1)).toThrow(expect.objectContaining({ code: 'ERR_EMDB_IO' }));
    expect(engine.stats().durableLsn, 'durable LSN not advanced by the failed sync').toBeLessThan(engine.stats().fileBytes);
    engine.close();
    expect(fs.readFileSync(file).subarray(0, 12288).equals(headerBefore), 'close wrote no checkpoint').toBe(true);
    // The failed sync cut the unsynced 'b' off the file (Linux may have dropped its
    // pages while keeping them readable), so the reopen sees only what was synced.
    const reopened = openEngine(file, nodeFileIO);
    expect(reopened.stats().records).toBe(1);
    reopened.append(batchOf([['c', '3']]).bytes, false, 1);
    reopened.flush();
    expect(reopened.stats().records).toBe(2);
    reopened.close();
  });

  it('a failed fdatasync under a batch with several flush marks (onEachFlush shares one sync) fails every mark, none durable', () => {
    const file = path.join(newDir(), 'marks.emdb');
    const io = faultyIO();
    const engine = openEngine(file, io);
    // The writer thread's wiring: the flusher syncs through the engine, marked writes append then request per mark.
    const flusher = new GroupFlusher({ kind: 'onEachFlush' }, () => engine.flush(), () => engine.needsSync());
    const steps = { append: (bytes: Uint8Array) => engine.append(bytes, false), requestFlush: (done: (e?: unknown) => void) => flusher.request(done) };
    const ok = batchOf([['a', '1'], ['b', '2'], ['c', '3']]);
    const outcomes: MarkedWriteOutcome[] = [];
    applyMarkedWrite(ok.bytes, [ok.bytes.length], steps, (o) => outcomes.push(o));
    expect(outcomes[0]?.syncErrors).toBeUndefined();
    const durable = engine.stats().durableLsn;

    const batch = batchOf([['d', '4'], ['e', '5'], ['f', '6']]);
    const third = batch.bytes.length / 3; // equal-sized records: a mark after each
    io.failSync = sysError('EIO');
    applyMarkedWrite(batch.bytes, [third, 2 * third, batch.bytes.length], steps, (o) => outcomes.push(o));
    io.failSync = undefined;
    const failed = outcomes[1];
    expect(failed?.syncErrors).toHaveLength(3);
    for (const e of failed!.syncErrors!) expect(e, 'every mark of the batch fails, also after the device recovered').toMatchObject({ code: 'ERR_EMDB_IO' });
    expect(engine.stats().durableLsn, 'nothing of the batch became durable').toBe(durable);
    expect(() => engine.append(batchOf([['g', '7']]).bytes, false, 1)).toThrow(expect.objectContaining({ code: 'ERR_EMDB_IO' }));
    engine.close();
    const reopened = openEngine(file, nodeFileIO);
    expect(reopened.stats().records, 'the reopen sees what was synced before the failure').toBe(3);
    reopened.close();
  });
});
