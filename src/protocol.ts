/**
 * Every message between the main thread (or an attached thread), the writer
 * worker and the reader pool. Calls are marshalled with msgpackr; bulk bytes
 * (record batches, read results) travel beside the packed header as transferred
 * ArrayBuffers, and SharedArrayBuffers (which msgpack cannot carry) travel by
 * structured clone in `shared`.
 */
import { Packr } from 'msgpackr';
import type { SerializedError } from './errors.js';

export type FlushPolicy =
  | { kind: 'onEachFlush' }
  | { kind: 'group'; maxWaitMs: number; maxBatch: number }
  | { kind: 'writeThrough' };

/** The shared buffers a thread needs to probe the index and read values. */
export interface BufferSet {
  generation: number;
  index: SharedArrayBuffer;
  segments: SharedArrayBuffer[];
}

export interface WriterInit {
  path: string | null;
  flushPolicy: FlushPolicy;
  control: SharedArrayBuffer;
  channelName: string;
  /** BroadcastChannel on which attached threads send requests (see core/attached.ts). */
  requestChannel: string;
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

/** An attached thread's request, as posted on the request channel. */
export interface AttachedRequest {
  client: string;
  env: Envelope;
}

export interface StatsSnapshot {
  records: number;
  liveBytes: number;
  deadBytes: number;
  fileBytes: number;
  namespaces: number;
  indexCapacity: number;
  indexLoad: number;
  tailHint: number;
  durableLsn: number;
  writes: number;
  lastCheckpointAt: number;
  /** How the last open rebuilt the index (docs/DESIGN.md, "Reopen"). */
  recovery: RecoveryStats;
  /** The index snapshot (`<path>.index`) as of the last checkpoint: the log tail it covers, or why it could not be written. */
  indexSnapshot: { tail: number | null; error: string | null };
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
  | { t: 'write'; id: number; count: number; bytes: number; /** reply with per-record prior existence */ existed: boolean }
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
