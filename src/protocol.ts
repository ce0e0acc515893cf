/**
 * Every message between the main thread (or an attached thread), the writer
 * worker and the reader pool. Calls are marshalled with msgpackr; bulk bytes
 * (record batches, read results) travel beside the packed header as transferred
 * ArrayBuffers, and SharedArrayBuffers (which msgpack cannot carry) travel by
 * structured clone in `shared`.
 */
// The pure-JS build: messages are small, and the native extractor costs ~14 ms to load per thread.
import { Packr } from 'msgpackr/pack';
import type { SerializedError } from './errors.js';
import type { SortedManifest } from './shm/sorted-run.js';
import type { SnapshotLimits } from './shm/sorted-writer.js';

export type FlushPolicy =
  | { kind: 'onEachFlush' }
  | { kind: 'group'; maxWaitMs: number; maxBatch: number }
  | { kind: 'writeThrough' };

/** The shared buffers a thread needs to probe the index and read values. */
export interface BufferSet {
  generation: number;
  index: SharedArrayBuffer;
  segments: SharedArrayBuffer[];
  /** The sorted index's runs and tail; present exactly when the database was opened with rangeScans. */
  sorted?: SortedManifest;
}

export interface WriterInit {
  path: string | null;
  flushPolicy: FlushPolicy;
  control: SharedArrayBuffer;
  channelName: string;
  /** BroadcastChannel on which attached threads send requests (see core/attached.ts). */
  requestChannel: string;
  /** rangeScans: true, with the iterator limits. */
  rangeScans?: SnapshotLimits;
}

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
}

/**
 * An attached thread's first request, posted on the database's request channel.
 * The writer answers it, and serves every later request of that client, on the
 * client's own link channel `${requestChannel}:${client}` (see core/attached.ts).
 */
export interface AttachedRequest {
  client: string;
  env: Envelope;
}

/** What the writer knows for stats() (db.ts adds the thread-side counters, see core/types.ts Stats). */
export interface StatsSnapshot {
  /** Live keys, every namespace. */
  records: number;
  /** Bytes of live records (and of the namespace catalogue) in the log. */
  liveBytes: number;
  /** Bytes of superseded, removed and framing records: what compaction would drop. */
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
  /** ms since the epoch of the last checkpoint (persisted in the header). */
  lastCheckpointAt: number;
  /** ms since the epoch of the last compact() since open; 0 when none. */
  lastCompactionAt: number;
  /** How the last open rebuilt the index (docs/DESIGN.md, "Reopen"). */
  recovery: RecoveryStats;
  /** The index snapshot (`<path>.index`) as of the last checkpoint: the log tail it covers, or why it could not be written. */
  indexSnapshot: { tail: number | null; error: string | null };
  /** The sorted index (rangeScans: true), else null: entries (removals and shadowed versions included), runs, bytes of shared memory. */
  sortedIndex: { entries: number; runs: number; bytes: number; loadedFrom: 'snapshot' | 'rebuilt' } | null;
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
}

export interface CompactReport {
  bytesBefore: number;
  bytesAfter: number;
  keysKept: number;
  deadBytesDropped: number;
  durationMs: number;
}

// ---- main/attached thread → writer ----
export type WriterRequest =
  | {
      t: 'write';
      id: number;
      count: number;
      bytes: number;
      /** reply with per-record prior existence */
      existed: boolean;
      /**
       * flush() calls made while this batch was queued, as byte offsets into it
       * (ascending): each mark is made durable under the flush policy (every
       * record before it, and everything appended earlier) before the one reply,
       * so a durable write costs one round trip, and the flushes of many async
       * producers in one tick travel in one message.
       */
      marks?: number[];
    }
  | { t: 'flush'; id: number }
  | { t: 'checkpoint'; id: number }
  | { t: 'stats'; id: number }
  | { t: 'buffers'; id: number }
  | { t: 'detach'; id: number }
  | { t: 'count'; id: number; ns: number }
  | { t: 'namespace'; id: number; name: string; create: boolean }
  | { t: 'dropNamespace'; id: number; name: string }
  | { t: 'namespaces'; id: number }
  | { t: 'compact'; id: number }
  | { t: 'backup'; id: number; path: string }
  | { t: 'close'; id: number };

// ---- writer → main/attached thread ----
export type WriterReply =
  | { t: 'ready'; generation: number }
  | { t: 'openFailed'; error: SerializedError }
  | {
      t: 'done';
      id: number;
      existed?: Uint8Array;
      stats?: StatsSnapshot;
      count?: number;
      nsId?: number;
      names?: string[];
      dropped?: boolean;
      report?: CompactReport;
      error?: SerializedError;
      /** Per mark of a write: the sync covering it failed (that flush rejects with this); null when it held. */
      syncErrors?: (SerializedError | null)[];
      /** A write refused part-way (after a failed sync poisoned the engine): bytes applied, and why the rest was not. */
      appliedBytes?: number;
      writeError?: SerializedError;
    }
  | { t: 'failed'; error: SerializedError };

// ---- main thread → reader pool task, and its result ----
export interface ReadTask {
  /** Generation the sender probes with; a reader behind it asks for `shared`. */
  generation: number;
  namespace: number;
  /** Concatenated key bytes and their lengths (packed u32). */
  keys: Uint8Array;
  lengths: Uint8Array;
}

export type ReadResult =
  | { t: 'values'; lengths: Uint8Array; values: Uint8Array }
  | { t: 'stale' };

/** What actually crosses a port: a packed header plus unpacked side-cars. */
export interface Envelope {
  m: Uint8Array;
  payload?: ArrayBuffer;
  shared?: BufferSet;
}

/**
 * Several envelopes in one postMessage: every request (or reply) one thread
 * posts to the same port in one tick travels together (see port-outbox.ts), in
 * the order they were made.
 */
export interface EnvelopeBatch {
  batch: Envelope[];
}

/** What crosses the opener's port to and from the writer: one envelope, or a tick's worth. */
export type PortMessage = Envelope | EnvelopeBatch;

const packr = new Packr({ useRecords: false, moreTypes: false });

/**
 * Packs a message. msgpackr returns a view into its reusable buffer, so the bytes
 * are copied into an exclusive buffer that is safe to transfer.
 */
export function pack(msg: WriterRequest | WriterReply | ReadTask | ReadResult): Uint8Array {
  const view = packr.pack(msg);
  const out = new Uint8Array(view.length);
  out.set(view);
  return out;
}

export function unpack<T extends WriterRequest | WriterReply | ReadTask | ReadResult>(bytes: Uint8Array): T {
  return packr.unpack(bytes) as T;
}

export function envelope(
  msg: WriterRequest | WriterReply | ReadTask | ReadResult,
  payload?: ArrayBuffer,
  shared?: BufferSet,
): { env: Envelope; transfer: ArrayBuffer[] } {
  const m = pack(msg);
  const env: Envelope = { m };
  const transfer: ArrayBuffer[] = [m.buffer as ArrayBuffer];
  if (payload) {
    env.payload = payload;
    transfer.push(payload);
  }
  if (shared) env.shared = shared;
  return { env, transfer };
}
