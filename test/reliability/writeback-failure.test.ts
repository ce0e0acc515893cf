/**
 * Write-back during bulk appends (src/writer/writeback.ts): an fdatasync on
 * the thread pool every 16 MiB of large appends. It is only a hint for the
 * kernel, but its failure is an fdatasync failure like any other: the engine
 * must cut the unsynced bytes and refuse writes and flushes until reopen, and
 * a descriptor the pool is still syncing must not be closed under it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RecordBuffer } from '../../dist/src/core/record-buffer.js';
import { RecordKind } from '../../dist/src/format/constants.js';
import { nodeFileIO, type FileIO } from '../../dist/src/log/file-io.js';
import { createControlBlock } from '../../dist/src/shm/shared-view.js';
import { WriterEngine } from '../../dist/src/writer/engine.js';
import { WRITEBACK_BYTES } from '../../dist/src/writer/writeback.js';
import { Emdb, tempDirs } from '../helpers/common.js';
import { trackedFileIO } from '../helpers/tracked-io.js';

const VALUE = Buffer.alloc(4000, 7);
const PER_CHUNK = 256;

/** One bulk chunk of PER_CHUNK records (~1 MiB) with keys `${prefix}:${i}`. */
function chunk(prefix: string): { bytes: Uint8Array; count: number } {
  const records = new RecordBuffer(PER_CHUNK * (VALUE.length + 64));
  for (let i = 0; i < PER_CHUNK; i++) {
    const key = `${prefix}:${i}`;
    records.append(RecordKind.PUT, 0, key, key.length, VALUE, 0);
  }
  const { payload, bytes, count } = records.take();
  return { bytes: new Uint8Array(payload, 0, bytes), count };
}

/** A write-back sync on the pool that answers only when `release()` is called, with `error` if set. */
function heldSyncs(base: FileIO): { io: FileIO; started: number[]; release(error?: Error): void } {
  const waiting: ((err: Error | null) => void)[] = [];
  const started: number[] = [];
  return {
    started,
    io: {
      ...base,
      fdatasyncAsync: (fd, done) => {
        started.push(fd);
        waiting.push(done);
      },
    },
    release: (error) => {
      for (const done of waiting.splice(0)) done(error ?? null);
    },
  };
}

describe('write-back syncs during bulk appends', () => {
  const newDir = tempDirs();

  it('a failed write-back cuts the unsynced bytes and refuses writes and flushes with ERR_EMDB_IO; the flushed part survives', async () => {
    const file = path.join(newDir(), 'wb.emdb');
    const fds = new Set<number>();
    const held = heldSyncs(trackedFileIO(fds));
    const engine = new WriterEngine({ path: file, flushPolicy: { kind: 'onEachFlush' }, io: held.io, control: createControlBlock(), publish: () => undefined });
    engine.open();
    const first = chunk('durable');
    engine.append(first.bytes, false, first.count);
    engine.flush();
    const durableSize = fs.statSync(file).size;
    let n = 0;
    while (held.started.length === 0) {
      const c = chunk(`bulk${n++}`);
      engine.append(c.bytes, false, c.count);
      expect(n * PER_CHUNK * VALUE.length).toBeLessThan(4 * WRITEBACK_BYTES);
    }
    const eio = Object.assign(new Error('EIO: i/o error, fdatasync (injected)'), { code: 'EIO' });
    held.release(eio);
    const more = chunk('after');
    expect(() => engine.append(more.bytes, false, more.count)).toThrow(expect.objectContaining({ code: 'ERR_EMDB_IO' }));
    expect(() => engine.flush()).toThrow(expect.objectContaining({ code: 'ERR_EMDB_IO' }));
    // Cut back to what the last successful flush made durable (preallocated zeros may follow; they are residue).
    const after = fs.readFileSync(file);
    expect(after.subarray(durableSize).every((b) => b === 0)).toBe(true);
    engine.close();
    expect(fds.size).toBe(0);

    const db = await Emdb.open(file, { readers: 1 });
    expect(await db.get('durable:0')).toBeDefined();
    expect(await db.get(`durable:${PER_CHUNK - 1}`)).toBeDefined();
    expect(await db.get('bulk0:0')).toBeUndefined();
    await db.close();
  });

  it('a descriptor the pool is syncing is closed only when that sync ends; a write-back changes no durability counter', () => {
    const file = path.join(newDir(), 'wb-close.emdb');
    const fds = new Set<number>();
    const held = heldSyncs(trackedFileIO(fds));
    const engine = new WriterEngine({ path: file, flushPolicy: { kind: 'onEachFlush' }, io: held.io, control: createControlBlock(), publish: () => undefined });
    engine.open();
    let n = 0;
    while (held.started.length === 0) {
      const c = chunk(`bulk${n++}`);
      engine.append(c.bytes, false, c.count);
    }
    expect(engine.stats().syncs).toBe(0);
    const logFd = held.started[0]!;
    engine.close();
    expect(fds.has(logFd)).toBe(true); // still being synced: not closed, its number not reusable
    held.release();
    expect(fds.has(logFd)).toBe(false);
    expect(fds.size).toBe(0);
  });

  it('with the real thread pool: a bulk load of 48 MiB starts write-backs and reopens whole', async () => {
    const file = path.join(newDir(), 'wb-real.emdb');
    let started = 0;
    const io: FileIO = { ...nodeFileIO, fdatasyncAsync: (fd, done) => (started++, nodeFileIO.fdatasyncAsync!(fd, done)) };
    const engine = new WriterEngine({ path: file, flushPolicy: { kind: 'onEachFlush' }, io, control: createControlBlock(), publish: () => undefined });
    engine.open();
    const chunks = Math.ceil((3 * WRITEBACK_BYTES) / (PER_CHUNK * VALUE.length));
    for (let i = 0; i < chunks; i++) {
      const c = chunk(`k${i}`);
      engine.append(c.bytes, false, c.count);
      if (i % 8 === 0) await new Promise((r) => setImmediate(r)); // let pool callbacks land, as between messages
    }
    engine.flush();
    await new Promise((r) => setTimeout(r, 50));
    engine.close();
    expect(started).toBeGreaterThanOrEqual(1);
    const db = await Emdb.open(file, { readers: 1 });
    expect((await db.stats()).records).toBe(chunks * PER_CHUNK);
    await db.close();
  });
});
