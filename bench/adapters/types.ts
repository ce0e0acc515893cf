/**
 * The one interface every store is benchmarked through. Each method uses the
 * store's own idiomatic API for that job; a method the store cannot do throws
 * NotApplicable with the reason, which the report prints as a footnote.
 */
import type { Entry } from '../workload.js';

export const STORE_NAMES = ['emdb-js', 'lmdb', 'classic-level', 'better-sqlite3'] as const;
export type StoreName = (typeof STORE_NAMES)[number];

export type FlushPolicyKind = 'onEachFlush' | 'group' | 'writeThrough';

export class NotApplicable extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'NotApplicable';
  }
}

/** A read-only view a worker thread opens on a store the main thread has open. */
export interface ThreadReader {
  getSync(key: Uint8Array): Uint8Array | undefined;
  close(): Promise<void>;
}

export interface SizeOnDisk {
  /** Bytes actually allocated (st_blocks × 512): sparse files count what they use. */
  allocated: number;
  /** Sum of st_size. */
  apparent: number;
}

export interface StoreAdapter {
  readonly name: StoreName;
  /** Package name and version of the store under test. */
  readonly version: string;
  /** Creates or opens the store inside `dir` (an empty temp dir on first open). */
  open(dir: string): Promise<void>;
  /** The store's fastest idiomatic batch path, then made durable. */
  bulkLoad(entries: Iterable<Entry>): Promise<void>;
  /** One write, durable when the promise resolves. */
  putDurable(key: Uint8Array, value: Uint8Array): Promise<void>;
  /** One batch, durable when the promise resolves. */
  batchDurable(entries: readonly Entry[]): Promise<void>;
  /** One write with no durability wait; resolves (or returns) once acknowledged. */
  putNoSync(key: Uint8Array, value: Uint8Array): Promise<void> | void;
  /** Ends the nosync phase: waits until fire-and-forget writes are applied (visible). */
  settleWrites(): Promise<void>;
  getSync(key: Uint8Array): Uint8Array | undefined;
  /**
   * The store's fastest sync read when it is not getSync: the bytes may be valid
   * only until the next call (lmdb-js getBinaryFast). The sync read phases use it
   * when present, so emdb-js is compared with each peer's best read.
   */
  getSyncFast?(key: Uint8Array): Uint8Array | undefined;
  getAsync(key: Uint8Array): Promise<Uint8Array | undefined>;
  getMany(keys: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]>;
  /** Removes the keys (the store's idiomatic path for many deletes), durable at the end. */
  removeMany(keys: readonly Uint8Array[], window: number): Promise<void>;
  compact(): Promise<void>;
  /** Untimed setup before range reads (e.g. reopen with a range index). */
  prepareRangeReads(): Promise<void>;
  /** Reads up to `limit` entries with key >= start in key order; returns how many. */
  rangeRead(start: Uint8Array, limit: number): Promise<number>;
  close(): Promise<void>;
  /** Opens the (closed) store again in the same dir. */
  reopen(): Promise<void>;
  /**
   * While open and idle (every write durable), copies the store's files (not
   * its lock files) to `toDir`, so that `open(toDir)` on a new adapter sees what a
   * kill -9 at this moment would leave: no close, no checkpoint.
   */
  copyWhileOpen(toDir: string): Promise<void>;
  /**
   * Stores with several durability modes (emdb-js flush policies) switch to
   * `mode` (a reopen, untimed); others leave this out.
   */
  useFlushPolicy?(mode: FlushPolicyKind): Promise<void>;
  sizeOnDisk(): Promise<SizeOnDisk>;
  /** Structured-cloneable description a worker passes to openThreadReader. */
  threadReaderSpec(): unknown;
  openThreadReader(spec: unknown): Promise<ThreadReader>;
}
