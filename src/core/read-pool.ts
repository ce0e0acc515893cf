import os from 'node:os';
import type { Piscina } from 'piscina';
import { EmdbError, ErrorCode, fromThreadError } from '../errors.js';
import type { Key } from '../keys.js';
import { writeKey } from '../keys.js';
import { ABSENT, KEY_ENTRY_HEADER, RESULT_LEN_SIZE, type BufferSet, type ReaderInit, type ReadTask, type ScanListTask, type ScanSource, type ScanTask } from '../protocol.js';
import type { SharedView } from '../shm/shared-view.js';
import type { RangeTaskMessage } from '../range/pool-scan.js';
import type { Chunk } from '../range/snapshot.js';
import { InlineReader } from './inline-reader.js';
import type { ValueReader } from './types.js';
import { workerExecArgv } from './worker-argv.js';

/** Keys per task: big enough to amortise a task round trip, small enough to spread over readers. */
const KEYS_PER_TASK = 2048;
/**
 * How long after the first async get the pool starts, ms, unless reads keep
 * coming: a process that reads a key or two, writes and exits (a CLI, a job)
 * is done before that and never pays ~30 ms of reader threads starting beside
 * its write and its close.
 */
const POOL_START_DELAY_MS = 20;
/**
 * Lookups answered on this thread before the pool is ready, at most: about a
 * millisecond of probing. Past it (a bulk read) the pool starts at once and
 * the rest wait for it, off this thread, in parallel, as before.
 */
const INLINE_LOOKUPS = KEYS_PER_TASK;
export const READER_WORKER_URL = new URL('../../workers/reader-entry.cjs', import.meta.url);

type Resolve = (value: Buffer | undefined) => void;

/**
 * The reader pool of each open database, by its control block: the seam through
 * which tests reach the reader threads (they run probe tasks there) with only a
 * public handle in hand (`db.handle().control`).
 */
const pools = new WeakMap<SharedArrayBuffer, ReadPool>();

export function readPoolOf(control: SharedArrayBuffer): ReadPool | undefined {
  return pools.get(control);
}

interface PendingBlock {
  buf: Buffer;
  dv: DataView;
  len: number;
  resolves: Resolve[];
  rejects: Array<(e: unknown) => void>;
  /** Holds a getMany's keys: the reader looks the block up within one even BATCH_SEQ (ReadTask.whole). */
  whole: boolean;
  /** The calls whose keys share the block (a get, or a getMany's keys): [first, first + count) of resolves, bytes [from, to). */
  calls: { first: number; count: number; from: number; to: number; whole: boolean }[];
}

/**
 * Async reads through the piscina reader pool. Every get() made in one tick is
 * gathered into key blocks of up to KEYS_PER_TASK keys, one task each, so a burst
 * of N gets costs N / 2048 task round trips, spread over the readers.
 * Values come back in one private buffer per task; the Buffers handed to callers
 * are views into it (never into shared memory).
 *
 * Until the pool has a thread ready, gets are answered on this thread instead
 * (InlineReader: the shared index probed as getSync does, values copied out;
 * up to INLINE_LOOKUPS keys): a reader thread takes ~50-70 ms to start (an
 * isolate, piscina, the reader module), and the first get() after open waited
 * that long for a lookup that takes microseconds here. Scans and ranges
 * always go to the pool (bulk work, and they start it).
 */
/**
 * Each pool thread's young generation, MiB. V8 grows it to tens of MiB under
 * a steady stream of short-lived garbage, which a miss of an encrypted page
 * makes (a 16 KiB plaintext string per unit opened) and a busy reader makes
 * anyway. Reading 600,000 keys through the pool of a 1,000,000-record log with
 * a 32 MiB cache (fresh processes, two each): RSS above the open database
 * 102–107 → 65–68 MiB encrypted, 71–77 → 48–56 plaintext; the same time
 * (14.1–14.8 s against 14.9 encrypted), and `get`, `getMany` and `range()`
 * of 200,000 records no slower (docs/DESIGN.md, "Encrypted logs in the cache").
 */
const READER_YOUNG_GENERATION_MB = 4;

export class ReadPool implements ValueReader {
  /**
   * The pool starts on the first scan or range, or shortly after the first get
   * (servesInline), not at open: a process that only writes (a loader, a CLI, a
   * short-lived job) never pays the reader threads' start-up (an isolate and its
   * module loading each), and open returns sooner. piscina itself is imported then too.
   */
  private pool: Promise<Piscina> | undefined;
  private readonly threadCount: number;
  private block: PendingBlock | undefined;
  private scheduled = false;
  /** Set by close(): tasks the stopped threads drop reject with ERR_EMDB_CLOSED, not piscina's plain Error. */
  private closed = false;
  /** Answers gets until `ready` (a first task came back from a reader thread), within its budget `inlineLeft`. */
  private readonly inline: InlineReader;
  private warming: Promise<void> | undefined;
  private startTimer: NodeJS.Timeout | undefined;
  private inlineLeft = INLINE_LOOKUPS;
  /** A reader thread has answered a task: reads go to the pool from now on. */
  ready = false;

  constructor(
    private readonly view: SharedView,
    private readonly getBuffers: () => Promise<BufferSet>,
    threads: number,
  ) {
    this.threadCount = Math.max(1, threads || os.availableParallelism());
    // For stats(), also on attached threads; stored before any handle exists.
    view.setReaders(this.threadCount);
    pools.set(view.control, this);
    this.inline = new InlineReader(view);
  }

  /**
   * Starts the pool (once) and resolves when a reader thread has answered an
   * empty task, i.e. is running; reads made until then were answered inline. A
   * failed start is not hidden: `ready` is set anyway, so the next read goes to
   * the pool and rejects with its error as before.
   */
  whenReady(): Promise<void> {
    this.warming ??= this.started()
      .then((pool) => {
        const keys = new ArrayBuffer(0);
        return pool.run({ count: 0, keys, keyBytes: 0 } satisfies ReadTask, { transferList: [keys] });
      })
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => {
        this.ready = true;
      });
    return this.warming;
  }

  /**
   * True when this lookup is answered on this thread: the pool is not ready
   * and the inline budget is not spent. The pool starts a little later
   * (POOL_START_DELAY_MS, on an unref'ed timer), or at once for a bulk read.
   */
  private servesInline(lookups = 1): boolean {
    if (this.ready) return false;
    if (this.inlineLeft >= lookups && !this.closed) {
      this.inlineLeft -= lookups;
      if (!this.startTimer && !this.warming) {
        this.startTimer = setTimeout(() => void this.whenReady(), POOL_START_DELAY_MS);
        this.startTimer.unref();
      }
      return true;
    }
    clearTimeout(this.startTimer);
    void this.whenReady();
    return false;
  }

  /** The running pool, started on first call (also used by tests to run probe tasks on the reader threads). */
  started(): Promise<Piscina> {
    if (this.closed) return Promise.reject(closedError());
    this.pool ??= import('piscina').then(({ Piscina }) => {
      // The buffers current now; a reader that meets a newer generation asks for it (run() retries with `shared`).
      const init: ReaderInit = { control: this.view.control, channelName: this.view.channelName, buffers: currentSet(this.view) };
      const pool = new Piscina({
        filename: READER_WORKER_URL.href,
        minThreads: this.threadCount,
        maxThreads: this.threadCount,
        idleTimeout: 30_000,
        execArgv: workerExecArgv(),
        workerData: init,
        resourceLimits: { maxYoungGenerationSizeMb: READER_YOUNG_GENERATION_MB },
      });
      // The threads got their copy as they were created (minThreads, above); piscina keeps workerData for
      // the life of the pool, and with it this generation's buffers long after a compaction. A thread
      // started later (replacing one that died) asks for the current set at its first task instead.
      init.buffers = undefined;
      return pool;
    });
    return this.pool;
  }

  lookup(namespace: number, key: Key, keyLen: number): Promise<Buffer | undefined> {
    if (this.servesInline()) return this.inline.lookup(namespace, key, keyLen);
    const block = this.blockFor(1);
    const first = block.resolves.length;
    const from = block.len;
    const found = this.enqueue(block, namespace, key, keyLen);
    block.calls.push({ first, count: 1, from, to: block.len, whole: false });
    return found;
  }

  /**
   * A getMany's keys go into one block, so one reader task looks them all up
   * within one even BATCH_SEQ (rule R6): a key list is never split across
   * tasks (one longer than KEYS_PER_TASK makes a longer task), while small
   * ones still share a block with the tick's other gets.
   */
  lookupMany(namespace: number, keys: readonly Key[], keyLens: readonly number[]): Promise<(Buffer | undefined)[]> {
    if (this.servesInline(keys.length)) return this.inline.lookupMany(namespace, keys, keyLens);
    const block = this.blockFor(keys.length);
    block.whole = true;
    const first = block.resolves.length;
    const from = block.len;
    const found = Promise.all(keys.map((key, i) => this.enqueue(block, namespace, key, keyLens[i]!)));
    block.calls.push({ first, count: keys.length, from, to: block.len, whole: true });
    return found;
  }

  /** The block the next `count` keys join: the tick's current one while they fit in it, else a new one. */
  private blockFor(count: number): PendingBlock {
    let block = this.block;
    if (!block || (block.resolves.length > 0 && block.resolves.length + count > KEYS_PER_TASK)) {
      if (block) this.dispatch(block);
      block = this.block = newBlock();
      if (!this.scheduled) {
        this.scheduled = true;
        queueMicrotask(() => {
          this.scheduled = false;
          if (this.block) this.dispatch(this.block);
          this.block = undefined;
        });
      }
    }
    return block;
  }

  private enqueue(block: PendingBlock, namespace: number, key: Key, keyLen: number): Promise<Buffer | undefined> {
    if (block.len + KEY_ENTRY_HEADER + keyLen > block.buf.length) grow(block, KEY_ENTRY_HEADER + keyLen);
    block.dv.setUint32(block.len, namespace, true);
    block.dv.setUint32(block.len + 4, keyLen, true);
    writeKey(block.buf, block.len + KEY_ENTRY_HEADER, key, keyLen);
    block.len += KEY_ENTRY_HEADER + keyLen;
    return new Promise<Buffer | undefined>((resolve, reject) => {
      block.resolves.push(resolve);
      block.rejects.push(reject);
    });
  }

  private dispatch(block: PendingBlock): void {
    if (this.block === block) this.block = undefined;
    this.run(block, undefined).then(
      (out) => deliver(block, out),
      (err: unknown) => {
        const e = this.failure(err);
        // Damage met by one call's key must not fail the other calls of the tick that shared its task: each
        // call is looked up again on its own, and only those that meet the damage again fail.
        if (e.code === ErrorCode.CORRUPTION && block.calls.length > 1) {
          for (const call of block.calls) this.dispatch(callBlock(block, call));
          return;
        }
        for (const reject of block.rejects) reject(e);
      },
    );
  }

  private async run(block: PendingBlock, shared: BufferSet | undefined): Promise<ArrayBuffer> {
    // Keys are copied per attempt: the block's buffer stays ours in case of a retry.
    const keys = block.buf.buffer.slice(0, block.len) as ArrayBuffer;
    const task: ReadTask = { count: block.resolves.length, keys, keyBytes: block.len, ...(shared ? { shared } : {}), ...(block.whole ? { whole: true } : {}) };
    const pool = await this.started();
    const out = (await pool.run(task, { transferList: [keys] })) as ArrayBuffer | null;
    if (out) return out;
    if (shared) throw new EmdbError(ErrorCode.IO, 'reader could not catch up with the index generation');
    return this.run(block, await this.getBuffers());
  }

  async scanList(source: ScanSource, from: number, count: number): Promise<Float64Array> {
    const task: ScanListTask = { scan: source, from, count };
    const pool = await this.started();
    try {
      return new Float64Array((await pool.run(task, { name: 'scanList' })) as ArrayBuffer);
    } catch (err) {
      throw this.failure(err);
    }
  }

  async scan(source: ScanSource, namespace: number, lsns: Float64Array, values: boolean): Promise<ArrayBuffer> {
    // A copy of the caller's slice (a few KiB), moved to the reader thread: the caller's window list stays whole.
    const list = lsns.slice().buffer as ArrayBuffer;
    const task: ScanTask = { scan: source, namespace, lsns: list, values };
    const pool = await this.started();
    try {
      return (await pool.run(task, { name: 'scan', transferList: [list] })) as ArrayBuffer;
    } catch (err) {
      throw this.failure(err);
    }
  }

  /** One chunk of a range scan (src/range/pool-scan.ts) on a reader thread. */
  async range(task: RangeTaskMessage): Promise<Chunk> {
    const pool = await this.started();
    try {
      return (await pool.run(task, { name: 'range' })) as Chunk;
    } catch (err) {
      throw this.failure(err);
    }
  }

  /**
   * A compaction replaced the log's mirror and index (SharedView.onDrop on this
   * thread): one empty task per reader thread. A reader thread waits for tasks
   * in Atomics.wait, so the buffer sets posted to it meanwhile queue on its
   * channel, each holding its generation's buffers; one that got no task since
   * (a get() at a time goes to the first idle thread, so the others never do)
   * kept every old generation until close. The empty task makes each thread
   * take the current set and collect (workers/reader.ts). Piscina gives
   * simultaneous tasks to distinct idle threads.
   */
  wakeAfterDrop(): void {
    if (this.closed || !this.pool) return;
    void this.pool.then(
      (pool) => {
        for (let i = 0; i < this.threadCount; i++) {
          const keys = new ArrayBuffer(0);
          pool.run({ count: 0, keys, keyBytes: 0 } satisfies ReadTask, { transferList: [keys] }).catch(() => undefined);
        }
      },
      () => undefined,
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.startTimer);
    if (this.pool) await (await this.pool).destroy();
  }

  /** A reader task's failure as an EmdbError: ERR_EMDB_CLOSED once close() stopped the threads. */
  private failure(err: unknown): EmdbError {
    if (err instanceof EmdbError) return err;
    // A reader thread's EmdbError (a damaged page of a lazily opened log) keeps its code and offset.
    const fromThread = fromThreadError(err);
    if (fromThread) return fromThread;
    if (this.closed) return closedError();
    return new EmdbError(ErrorCode.IO, `reader failed: ${String(err)}`, { cause: err });
  }
}

function closedError(): EmdbError {
  return new EmdbError(ErrorCode.CLOSED, 'database is closed');
}

function deliver(block: PendingBlock, out: ArrayBuffer): void {
  const dv = new DataView(out);
  const n = block.resolves.length;
  let at = n * RESULT_LEN_SIZE;
  for (let i = 0; i < n; i++) {
    const len = dv.getInt32(i * RESULT_LEN_SIZE, true);
    if (len === ABSENT) {
      block.resolves[i]!(undefined);
    } else {
      block.resolves[i]!(Buffer.from(out, at, len));
      at += len;
    }
  }
}

function newBlock(): PendingBlock {
  const buf = Buffer.allocUnsafeSlow(16 * 1024);
  return { buf, dv: new DataView(buf.buffer, 0, buf.length), len: 0, resolves: [], rejects: [], whole: false, calls: [] };
}

/** A block of one call of `block` alone (its keys, promises and whether it is a getMany). */
function callBlock(block: PendingBlock, call: PendingBlock['calls'][number]): PendingBlock {
  // Its own memory at offset 0: run() sends buf.buffer[0, len).
  const buf = Buffer.allocUnsafeSlow(call.to - call.from);
  buf.set(block.buf.subarray(call.from, call.to));
  return {
    buf,
    dv: new DataView(buf.buffer, buf.byteOffset, buf.length),
    len: buf.length,
    resolves: block.resolves.slice(call.first, call.first + call.count),
    rejects: block.rejects.slice(call.first, call.first + call.count),
    whole: call.whole,
    calls: [{ ...call, first: 0, from: 0, to: buf.length }],
  };
}

function grow(block: PendingBlock, extra: number): void {
  const next = Buffer.allocUnsafeSlow(Math.max(block.buf.length * 2, block.len + extra));
  block.buf.copy(next, 0, 0, block.len);
  block.buf = next;
  block.dv = new DataView(next.buffer, 0, next.length);
}

function currentSet(view: SharedView): BufferSet | undefined {
  if (!view.index || !view.mirror) return undefined;
  return { generation: view.generation, logEpoch: view.logEpoch, index: view.index.buffer, ...view.mirror.shareable() };
}
