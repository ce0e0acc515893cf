import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RecordBuffer } from '../../dist/src/core/record-buffer.js';
import { RecordKind } from '../../dist/src/format/constants.js';
import { nodeFileIO, type FileIO } from '../../dist/src/log/file-io.js';
import type { FlushPolicy } from '../../dist/src/types.js';
import { createControlBlock } from '../../dist/src/shm/shared-view.js';
import { WriterEngine } from '../../dist/src/writer/engine.js';
import { GroupFlusher, type FlushDone } from '../../dist/src/writer/group-flush.js';
import { Emdb, FIXTURES, tempDirs } from '../helpers/common.js';

const GROUP: FlushPolicy = { kind: 'group', maxWaitMs: 5, maxBatch: 64 };

interface Producer {
  ready: Promise<void>;
  done: Promise<string[]>;
}

function producer(handle: unknown, name: string, count: number, start: SharedArrayBuffer): Producer {
  const worker = new Worker(path.join(FIXTURES, 'durable-producer.js'), { workerData: { handle, name, count, shape: 'together', start } });
  let ready!: () => void;
  const readyP = new Promise<void>((r) => (ready = r));
  const done = new Promise<string[]>((resolve, reject) => {
    worker.on('message', (m: { t: string; keys?: string[]; message?: string }) => {
      if (m.t === 'ready') ready();
      else if (m.t === 'done') resolve(m.keys!);
      else reject(new Error(`producer ${name}: ${m.message}`));
    });
    worker.once('error', reject);
  }).finally(() => void worker.terminate());
  return { ready: readyP, done };
}

/** 4 attached workers and the main thread, each making `perProducer` writes durable one at a time, all at once. */
async function concurrentDurableWrites(file: string, flushPolicy: FlushPolicy, perProducer: number): Promise<{ syncs: number; flushes: number }> {
  const db = await Emdb.open(file, { flushPolicy, readers: 1 });
  const start = new SharedArrayBuffer(4);
  const workers = [1, 2, 3, 4].map((w) => producer(db.handle(), `w${w}`, perProducer, start));
  await Promise.race([Promise.all(workers.map((w) => w.ready)), Promise.all(workers.map((w) => w.done))]);
  const before = (await db.stats()).syncs;
  Atomics.store(new Int32Array(start), 0, 1);
  Atomics.notify(new Int32Array(start), 0);
  const mainThread = (async () => {
    const keys: string[] = [];
    for (let i = 0; i < perProducer; i++) {
      await Promise.all([db.insert(`main:${i}`, `v${i}`), db.flush()]);
      keys.push(`main:${i}`);
    }
    return keys;
  })();
  const written = (await Promise.all([mainThread, ...workers.map((w) => w.done)])).flat();
  const syncs = (await db.stats()).syncs - before;
  await db.close();
  // Every acknowledged write is there after a reopen.
  const again = await Emdb.open(file, { readers: 1 });
  for (const key of written) expect(again.getSync(key)?.toString(), key).toBe(`v${key.split(':')[1]}`);
  await again.close();
  return { syncs, flushes: written.length };
}

describe('group commit across threads (real files)', () => {
  const newDir = tempDirs();

  it('concurrent flushes from the main thread and attached workers share fdatasyncs under group', async () => {
    const { syncs, flushes } = await concurrentDurableWrites(path.join(newDir(), 'g.emdb'), GROUP, 12);
    expect(flushes).toBe(60);
    expect(syncs).toBeGreaterThan(0);
    expect(syncs).toBeLessThan(flushes);
  });

  it('control: under onEachFlush the same workload pays one fdatasync per flush', async () => {
    // Each flush carries its own new record, so nothing is shared: the counter can tell the policies apart.
    const { syncs, flushes } = await concurrentDurableWrites(path.join(newDir(), 'e.emdb'), { kind: 'onEachFlush' }, 12);
    expect(syncs).toBe(flushes);
  });

  it('writeThrough acknowledges flushes without an fdatasync', async () => {
    const { syncs } = await concurrentDurableWrites(path.join(newDir(), 'w.emdb'), { kind: 'writeThrough' }, 4);
    expect(syncs).toBe(0);
  });
});

/** A FileIO that knows how far the log had been written when each fdatasync ran. */
function trackingIO(): FileIO & { writtenEnd: number; syncedEnd: number; syncs: number; failNextSync: boolean } {
  const io = {
    ...nodeFileIO,
    writtenEnd: 0,
    syncedEnd: 0,
    syncs: 0,
    failNextSync: false,
    write(fd: number, buf: Uint8Array, off: number, len: number, pos: number): number {
      const n = nodeFileIO.write(fd, buf, off, len, pos);
      io.writtenEnd = Math.max(io.writtenEnd, pos + n);
      return n;
    },
    fdatasync(fd: number): void {
      if (io.failNextSync) throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
      nodeFileIO.fdatasync(fd);
      io.syncs++;
      io.syncedEnd = io.writtenEnd;
    },
  };
  return io;
}

function openEngine(file: string, io: FileIO, flushPolicy: FlushPolicy): WriterEngine {
  const engine = new WriterEngine({ path: file, flushPolicy, io, control: createControlBlock(), publish: () => undefined });
  engine.open();
  return engine;
}

/** Appends one record; returns the log offset where it ends. */
function appendOne(engine: WriterEngine, key: string): number {
  const records = new RecordBuffer();
  records.append(RecordKind.PUT, 0, key, key.length, 'value', 0);
  const { payload, bytes, count } = records.take();
  engine.append(new Uint8Array(payload, 0, bytes), false, count);
  return engine.stats().fileBytes;
}

/**
 * Drives a flusher wired like the writer worker with a random mix of appends and
 * flush requests (some answered by a full batch, some by the idle check, some
 * by the timer) and returns the flushes answered before their record was synced.
 */
const SMALL_GROUP: FlushPolicy = { kind: 'group', maxWaitMs: 2, maxBatch: 4 };

async function earlyAnswers(file: string, wire: (engine: WriterEngine) => GroupFlusher): Promise<number> {
  const io = trackingIO();
  const engine = openEngine(file, io, SMALL_GROUP);
  const flusher = wire(engine);
  let early = 0;
  let answered = 0;
  let seed = 7;
  const pending: Promise<void>[] = [];
  for (let i = 0; i < 60; i++) {
    const end = appendOne(engine, `k${i}`);
    pending.push(
      new Promise<void>((resolve) => {
        flusher.request((error) => {
          if (error) throw error;
          if (io.syncedEnd < end) early++;
          answered++;
          resolve();
        });
      }),
    );
    seed = (seed * 1103515245 + 12345) >>> 0;
    if (seed % 3 === 0) await new Promise((r) => setImmediate(r));
    if (seed % 7 === 0) await new Promise((r) => setTimeout(r, 3));
  }
  flusher.drain();
  await Promise.all(pending);
  expect(answered).toBe(60);
  engine.close();
  return early;
}

describe('GroupFlusher with an in-process engine', () => {
  const newDir = tempDirs();

  it('answers every flush only after an fdatasync that covered its record', async () => {
    const early = await earlyAnswers(path.join(newDir(), 'd.emdb'), (engine) => new GroupFlusher(SMALL_GROUP, () => engine.flush(), () => engine.needsSync()));
    expect(early).toBe(0);
  });

  it('control: a flusher wired to a sync that does nothing is caught answering early', async () => {
    const early = await earlyAnswers(path.join(newDir(), 'm.emdb'), (engine) => new GroupFlusher(SMALL_GROUP, () => undefined, () => engine.needsSync()));
    expect(early).toBeGreaterThan(0);
  });

  it('a failed sync reaches every member of the batch as ERR_EMDB_IO, and the engine then refuses writes', () => {
    const io = trackingIO();
    const policy: FlushPolicy = { kind: 'group', maxWaitMs: 10_000, maxBatch: 4 };
    const engine = openEngine(path.join(newDir(), 'f.emdb'), io, policy);
    const flusher = new GroupFlusher(policy, () => engine.flush(), () => engine.needsSync());
    const syncedAtOpen = io.syncs;
    io.failNextSync = true;
    const outcomes: unknown[] = [];
    for (let i = 0; i < 4; i++) {
      appendOne(engine, `k${i}`);
      flusher.request((error) => outcomes.push(error));
    }
    // The fourth request filled the batch: one sync attempt, four answers, one error.
    expect(outcomes).toHaveLength(4);
    expect(new Set(outcomes).size).toBe(1);
    expect((outcomes[0] as { code?: string }).code).toBe('ERR_EMDB_IO');
    expect(io.syncs).toBe(syncedAtOpen);
    expect(() => appendOne(engine, 'after')).toThrow(expect.objectContaining({ code: 'ERR_EMDB_IO' }));
    // Never retried and assumed good: a later flush fails too, even once the disk would sync.
    io.failNextSync = false;
    let later: unknown;
    flusher.request((error) => (later = error));
    flusher.drain();
    expect((later as { code?: string }).code).toBe('ERR_EMDB_IO');
    expect(io.syncs).toBe(syncedAtOpen);
    engine.close();
  });
});

describe('GroupFlusher batching rule (fake timers)', () => {
  afterEach(() => void vi.useRealTimers());

  function fakeFlusher(policy: FlushPolicy): { flusher: GroupFlusher; syncs: () => number; answered: () => number; done: FlushDone } {
    let syncs = 0;
    let answered = 0;
    const flusher = new GroupFlusher(policy, () => void syncs++, () => true);
    return { flusher, syncs: () => syncs, answered: () => answered, done: () => void answered++ };
  }

  it('syncs as soon as maxBatch requests wait, and never puts more than maxBatch in one sync', () => {
    vi.useFakeTimers();
    const f = fakeFlusher({ kind: 'group', maxWaitMs: 10_000, maxBatch: 3 });
    for (let i = 0; i < 7; i++) f.flusher.request(f.done);
    expect(f.syncs()).toBe(2);
    expect(f.answered()).toBe(6);
  });

  it('a lone flusher syncs once the writer is idle, without waiting for maxWaitMs', () => {
    vi.useFakeTimers();
    const f = fakeFlusher({ kind: 'group', maxWaitMs: 10_000, maxBatch: 8 });
    f.flusher.request(f.done);
    expect(f.answered()).toBe(0);
    vi.advanceTimersByTime(0);
    expect(f.answered()).toBe(1);
    expect(f.syncs()).toBe(1);
  });

  it('after batches of 3, a leader waits for its followers, but only for the follower window (at most maxWaitMs)', () => {
    vi.useFakeTimers();
    const f = fakeFlusher({ kind: 'group', maxWaitMs: 50, maxBatch: 8 });
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 3; i++) f.flusher.request(f.done);
      vi.advanceTimersByTime(0);
    }
    expect(f.syncs()).toBe(2);
    // Followers that arrive while the writer turns over join the leader's sync.
    f.flusher.request(f.done);
    vi.advanceTimersByTime(0);
    f.flusher.request(f.done);
    vi.advanceTimersByTime(0);
    expect(f.syncs()).toBe(2);
    f.flusher.request(f.done);
    vi.advanceTimersByTime(0);
    expect(f.syncs()).toBe(3);
    expect(f.answered()).toBe(9);
    // A follower that never comes costs the leader the window (those batches gathered at once: 1 ms), not maxWaitMs.
    f.flusher.request(f.done);
    vi.advanceTimersByTime(0);
    expect(f.answered()).toBe(9);
    vi.advanceTimersByTime(1);
    expect(f.answered()).toBe(10);
    expect(f.syncs()).toBe(4);
    expect(f.flusher.timeouts).toBe(1);
  });

  it('onEachFlush syncs once per request, at once; a request with nothing unsynced costs no sync', () => {
    vi.useFakeTimers();
    const f = fakeFlusher({ kind: 'onEachFlush' });
    for (let i = 0; i < 3; i++) f.flusher.request(f.done);
    expect(f.syncs()).toBe(3);
    let syncs = 0;
    const clean = new GroupFlusher({ kind: 'group', maxWaitMs: 10_000, maxBatch: 8 }, () => void syncs++, () => false);
    let answered = 0;
    clean.request(() => void answered++);
    expect(answered).toBe(1);
    expect(syncs).toBe(0);
  });
});
