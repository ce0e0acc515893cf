/**
 * The types of the public API that are plain data: what options, stats(),
 * compact() and handle() take or return. They are not wire messages (those are
 * in protocol.ts), though some of them travel inside one.
 */

/** How values are encoded: Buffers as they are, UTF-8 strings, JSON or msgpack structures. */
export type ValueEncoding = 'binary' | 'utf8' | 'json' | 'msgpack';

/**
 * The type of the values a `valueEncoding` reads back, which `Emdb.open`,
 * `Emdb.openInMemory` and `db.namespace` give their result: `'binary'` (the
 * default) → `Buffer`, `'utf8'` → `string`, `'json'` and `'msgpack'` → `any`.
 *
 * A structured value comes back in whatever shape the program stored, which
 * the library cannot know: `any` lets it be used as that shape, as lmdb-js
 * types its decoded values and as Level's documentation does for `'json'`
 * (`unknown` would force a cast at every read). To have values checked,
 * name the type: `Emdb.open<Session>(path, { valueEncoding: 'json' })`.
 * An encoding not known at compile time (a `ValueEncoding` variable) also gives `any`.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above: a decoded structure has the program's shape, not one we can name
export type ValueOfEncoding<E extends ValueEncoding> = E extends 'utf8' ? string : E extends 'json' | 'msgpack' ? any : Buffer;

/**
 * The type argument of `Emdb.open`, `Emdb.openInMemory` and `db.namespace` is
 * either an encoding's name, inferred from the `valueEncoding` option, or the
 * value type the caller names (`Emdb.open<Session>(...)`). One type parameter
 * for both keeps one signature per call shape, so `Emdb.open<Buffer>` and
 * `typeof Emdb.open<Buffer>` mean what they always did. A type that is one of
 * the encoding names (`'utf8'`) is read as that encoding.
 *
 * ValueOfTypeArgument: the value type `T` stands for.
 */
export type ValueOfTypeArgument<T> = [T] extends [ValueEncoding] ? ValueOfEncoding<T> : T;
/** EncodingOfTypeArgument: the `valueEncoding` option `T` allows (any, when `T` is a value type). */
export type EncodingOfTypeArgument<T> = [T] extends [ValueEncoding] ? T : ValueEncoding;

export type FlushPolicy =
  | { kind: 'onEachFlush' }
  | { kind: 'group'; maxWaitMs: number; maxBatch: number }
  | { kind: 'writeThrough' };

/**
 * The `flushPolicy` open option: a FlushPolicy whose `group` fields may be
 * left out (`maxWaitMs` defaults to 1 ms, `maxBatch` to the number of CPUs).
 */
export type FlushPolicyOption = { kind: 'onEachFlush' } | { kind: 'group'; maxWaitMs?: number; maxBatch?: number } | { kind: 'writeThrough' };

/**
 * A structured-cloneable description of an open database, for Emdb.attach() in
 * another worker thread: shared buffers and channel names, no ports.
 */
export interface EmdbHandle {
  kind: 'emdb-js/handle';
  version: 1;
  path: string | null;
  control: SharedArrayBuffer;
  buffersChannel: string;
  requestChannel: string;
  valueEncoding: 'binary' | 'utf8' | 'json' | 'msgpack';
  flushPolicy: FlushPolicy;
  /** The opener's defaultTtl (ms) and separator, so an attached thread writes as the opener does. */
  defaultTtl?: number;
  separator?: string;
  /** The opener's collectAfterCompaction, which attached threads follow (absent: true). */
  collectAfterCompaction?: boolean;
}

/** What the writer knows for stats() (db.ts adds the thread-side counters, see Stats below). */
export interface StatsSnapshot {
  /** Live keys, every namespace. */
  records: number;
  /** Bytes of live records (and of the namespace catalogue) in the log; records whose TTL passed are not live. */
  liveBytes: number;
  /** Bytes of superseded, removed, expired (swept or not yet) and framing records: what compaction would drop. */
  deadBytes: number;
  /** Size of the log (its end offset). */
  fileBytes: number;
  namespaces: number;
  /** Slots of the shared hash index. */
  indexCapacity: number;
  /** (live + deleted slots) / capacity: the index's load factor. */
  indexLoad: number;
  /** Where the last checkpoint says valid data ends. */
  tailHint: number;
  /** Log offset up to which every record is durable. */
  durableLsn: number;
  /** Records applied since open (each insert, remove, clear, ... is one). */
  writes: number;
  /** fdatasyncs of the log by flush() and checkpoint() since open. */
  syncs: number;
  /** Wall milliseconds those fdatasyncs took (syncMs / syncs: this disk's sync latency). */
  syncMs: number;
  /** group policy: syncs started by the follower-wait timer, because followers that were expected did not come. */
  flushTimeouts: number;
  /**
   * Header slots written by the automatic checkpoint since open (each with one
   * fdatasync, not counted in `syncs`): it moves the tail hint up to the durable
   * LSN once 16 MiB or 1 s passed (docs/FORMAT.md, "Header slots").
   */
  autoCheckpoints: number;
  /** ms since the epoch of the last checkpoint (persisted in the header). */
  lastCheckpointAt: number;
  /** ms since the epoch of the last compact() since open; 0 when none. */
  lastCompactionAt: number;
  /** How the last open rebuilt the index (docs/DESIGN.md, "Reopen"). */
  recovery: RecoveryStats;
  /** The index snapshot (`<path>.index`) as of the last checkpoint: the log tail it covers, or why it could not be written. */
  indexSnapshot: { tail: number | null; error: string | null };
  /**
   * The sorted index (rangeScans: true), else null: entries (removals and shadowed versions included), runs,
   * `tail` entries not yet sorted into a run (the writer sorts them in its idle time), bytes of shared memory.
   */
  sortedIndex: { entries: number; runs: number; tail: number; bytes: number; loadedFrom: 'snapshot' | 'rebuilt' } | null;
  /** Expiry (docs/DESIGN.md, "TTL"). `records` above excludes expired keys not yet swept. */
  ttl: TtlStats;
  /**
   * The bounded page cache (OpenOptions.cacheSize), else null (the whole log
   * is kept in shared memory): its bytes, the bytes of log pages resident in
   * it now, and pages it has evicted since open.
   */
  cache: CacheStats | null;
}

export interface CacheStats {
  bytes: number;
  residentBytes: number;
  evictions: number;
}

export interface TtlStats {
  /** Entries in the writer's deadline heap (live TTL records plus stale entries awaiting removal). */
  deadlines: number;
  /** Bytes the deadline heap holds. */
  deadlineBytes: number;
  /** Keys whose deadline passed that the sweep has not removed yet (invisible to every read already). */
  expiredPending: number;
  /** Removal records the sweep wrote since open. */
  swept: number;
  /** Longest single sweep batch since open (ms): the most a request could wait behind the sweep. */
  maxSweepBatchMs: number;
  /** Wall time of the last sweep run that emptied the backlog (first batch to last, the turns yielded between them included), ms; 0 before the first. */
  lastSweepMs: number;
}

export interface RecoveryStats {
  /** 'snapshot': the index snapshot held the log up to `replayedFrom`; 'full': every record was replayed. */
  mode: 'snapshot' | 'full';
  /** Records walked and applied at open (only those after the snapshot in 'snapshot' mode). */
  recordsReplayed: number;
  replayedFrom: number;
  /** The header slot's prefix CRC verified the checkpointed bytes in one pass, so those records skipped their own CRC. */
  prefixVerified: boolean;
  durationMs: number;
  /** Bytes cut off the end of the file at open: crash residue (torn appends, zero or garbage tails), or salvaged damage. */
  truncatedBytes: number;
  /** Intact records found in the cut bytes and dropped with them (never-durable writes, or records after salvaged damage). */
  droppedRecords: number;
  /** Offset where the cut began, or null when nothing was cut. */
  residueAt: number | null;
  /** Why the record at `residueAt` ended the log (e.g. 'record checksum mismatch'), or null. */
  residueReason: string | null;
  /** True when `recovery: 'salvage'` cut the log at damage proven durable (which a default open refuses). */
  salvaged: boolean;
  /** Offset of that damage when `salvaged`, else null. */
  corruptionAt: number | null;
  /**
   * Pages (64 KiB) of the log that this open left on disk: a reopen after a
   * clean close of a log of at least 32 MiB reads the header and the index
   * snapshot only, and loads each page when it is first read (or in the
   * background), checking it against the snapshot's page checksums; an
   * encrypted log read through the page cache authenticates each sealed unit
   * as it is first read instead. 0 when the open read the whole log. It counts
   * what the open left, not what was read later (a sorted index rebuilt at
   * open, for `rangeScans`, reads every live record).
   */
  lazyPages: number;
}

export interface CompactReport {
  bytesBefore: number;
  bytesAfter: number;
  keysKept: number;
  deadBytesDropped: number;
  durationMs: number;
  /**
   * True when the log was not rewritten: it had less than 20 % of its bytes to
   * reclaim (and is 4 MiB or more); `compact({ force: true })` rewrites it anyway.
   * The sizes are then the current ones and nothing was dropped.
   */
  skipped: boolean;
}

/** Options of db.compact(). */
export interface CompactOptions {
  /** Rewrite the log even when it has little to reclaim (default false). */
  force?: boolean;
}

/** db.stats(): the writer's snapshot plus counters kept in shared memory. */
export interface Stats extends StatsSnapshot {
  /** Reader-pool threads of the database (set by the opening thread; also reported by attached threads). */
  readers: number;
  /**
   * Key lookups since open, on every thread: get, getSync, contains and each key
   * of getMany (also inside transactions). Each thread publishes its count in
   * batches (shm/layout.ts, READS), so lookups another thread is making right
   * now may not be counted yet; this thread's own always are.
   */
  reads: number;
}
