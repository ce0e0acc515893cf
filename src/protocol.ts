/**
 * Every message between threads: requests to the writer worker and its replies
 * (from the opening thread's port or an attached thread's link), the reader
 * pool's tasks and results, and the buffer sets the writer broadcasts (rule R4,
 * shm/layout.ts). Writer messages are marshalled with msgpackr; bulk bytes
 * (record batches, read results) travel beside the packed header as transferred
 * ArrayBuffers, and SharedArrayBuffers (which msgpack cannot carry) travel by
 * structured clone in `shared`.
 *
 * Types and constants only, no runtime import: a reader thread loads this
 * module and nothing else of the messaging (the codec is protocol-codec.ts).
 */
import type { EmdbError, SerializedError } from './errors.js';
import type { BufferSet } from './shm/shared-view.js';
import type { ScanSource } from './shm/scan.js';
import type { CompactReport, FlushPolicy, StatsSnapshot } from './types.js';
import type { ValueEncoding } from './types.js';
import type { SnapshotLimits } from './shm/sorted-writer.js';
import type { EncryptionSpec } from './crypto/keys.js';

export type { BufferSet } from './shm/shared-view.js';
export type { ScanSource } from './shm/scan.js';

/** The writer worker's init: its first message (the thread is started before the lock is taken, src/core/writer-worker.ts). */
export interface WriterInit {
  path: string | null;
  flushPolicy: FlushPolicy;
  control: SharedArrayBuffer;
  channelName: string;
  /** BroadcastChannel on which attached threads send requests (see core/attached.ts). */
  requestChannel: string;
  /** rangeScans: true, with the iterator limits. */
  rangeScans?: SnapshotLimits;
  /** The opener's lock record: the writer re-binds the file's identity with it after create and compaction. */
  lockRecord?: string;
  /** Recorded in a new file (format 3) and compared with the recorded one at open. Default 'binary'. */
  valueEncoding?: ValueEncoding;
  /** The command line's raw open: an existing database is not checked against valueEncoding (options.ts, RAW_VALUES). */
  anyEncoding?: boolean;
  /** What open does with damage proven durable after the tail hint (docs/FORMAT.md, "Recovery"). Default 'strict'. */
  recovery?: 'strict' | 'salvage';
  /** At-rest encryption (key material: the writer derives the keys, off the opener's thread). */
  encryption?: EncryptionSpec;
  /** Bytes of log pages kept in shared memory (OpenOptions.cacheSize); Infinity: the whole log; unset: the default plan (writer/cache-plan.ts). */
  cacheSize?: number;
  /** The index snapshot's table, read by the opener while this thread booted (core/snapshot-prefetch.ts); checked before use. */
  snapshot?: PrefetchedSnapshot;
}

/** An index snapshot's header bytes and its table, in the SharedArrayBuffer the index will use if the writer accepts them. */
export interface PrefetchedSnapshot {
  header: Uint8Array;
  table: SharedArrayBuffer;
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
      /**
       * Namespaces (ids, never 0) the batch writes into that must still exist
       * when the writer applies it: a transaction's. One that was dropped
       * before refuses the whole batch with ERR_EMDB_CLOSED, nothing written.
       */
      liveNs?: number[];
    }
  | { t: 'flush'; id: number }
  | { t: 'checkpoint'; id: number }
  | { t: 'stats'; id: number }
  | { t: 'buffers'; id: number }
  | { t: 'detach'; id: number }
  | { t: 'count'; id: number; ns: number }
  /** `encoding`: recorded when the namespace is created (format 3), refused when it differs from the recorded one. */
  | { t: 'namespace'; id: number; name: string; create: boolean; encoding?: ValueEncoding }
  | { t: 'dropNamespace'; id: number; name: string }
  | { t: 'namespaces'; id: number }
  | { t: 'compact'; id: number; force?: boolean }
  /** Emdb.enableEncryption / disableEncryption / rotateEncryptionKey: `to` undefined writes plaintext. */
  | { t: 'reencrypt'; id: number; to?: EncryptionSpec; keepBackup: boolean }
  | { t: 'backup'; id: number; path: string }
  | { t: 'close'; id: number }
  /** Clears the TTL of `key` in namespace `ns`, decided on the writer (writer/expiry.ts). */
  | { t: 'persist'; id: number; ns: number; key: Uint8Array }
  /** The clock moved (a test hook): re-arm the sweep for the earliest deadline. */
  | { t: 'sweep'; id: number };

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
      /** The namespace's recorded value encoding (format 3); absent when none was recorded. */
      nsEncoding?: ValueEncoding;
      names?: string[];
      dropped?: boolean;
      persisted?: boolean;
      report?: CompactReport;
      error?: SerializedError;
      /** close: the log closed durably but the index snapshot could not be written (why); the next open replays the log. */
      snapshotFailed?: string;
      /** Per mark of a write: the sync covering it failed (that flush rejects with this); null when it held. */
      syncErrors?: (SerializedError | null)[];
    }
  | { t: 'failed'; error: SerializedError };

/** A request as its sender writes it: the link numbers it (see core/writer-link.ts). */
export type RequestBody = WriterRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

type DoneReply = Extract<WriterReply, { t: 'done' }>;

/** What a write with flush marks answers (writer/marked-write.ts): the write-related fields of a reply. */
export type MarkedWriteOutcome = Pick<DoneReply, 'existed' | 'syncErrors'>;

/**
 * A successful reply as the requesting thread sees it: the reply's fields with
 * its errors revived, plus the envelope's side-cars (a write batch's buffer,
 * handed back for reuse; a buffer set).
 */
export type Done = Omit<DoneReply, 't' | 'id' | 'error' | 'syncErrors'> & {
  payload?: ArrayBuffer;
  shared?: BufferSet;
  /** Per mark of a write (see WriteBatcher): the sync that failed, if it did. */
  syncErrors?: (EmdbError | undefined)[];
};

// ---- opening thread → reader pool (piscina tasks) ----

/** A reader worker's workerData: the buffers current when the pool started. */
export interface ReaderInit {
  control: SharedArrayBuffer;
  channelName: string;
  buffers: BufferSet | undefined;
}

/**
 * get(): a block of keys to resolve. Answered with a result block (an
 * ArrayBuffer), or null when the reader is behind the published generation and
 * needs `shared` (the task is then sent again with it).
 *
 * Key block:    count × ( namespace u32 | key length u32 | key bytes )
 * Result block: count × ( value length i32, ABSENT = -1 ) then the values, concatenated
 * Little-endian throughout.
 */
export interface ReadTask {
  count: number;
  keys: ArrayBuffer;
  keyBytes: number;
  shared?: BufferSet;
  /** The block holds a getMany's keys: look them all up within one even BATCH_SEQ (rule R6, shm/batch-seq.ts). */
  whole?: boolean;
}
export const KEY_ENTRY_HEADER = 8;
export const RESULT_LEN_SIZE = 4;
export const ABSENT = -1;

/** Iteration, first step (piscina task name 'scanList'): the LSNs of a window of index slots, ascending, answered as a Float64Array's buffer (shm/scan.ts, listLsns). */
export interface ScanListTask {
  scan: ScanSource;
  from: number;
  count: number;
}

/** Iteration, second step (piscina task name 'scan'): the records at some of those LSNs (a Float64Array's buffer, transferred), answered with a packed scan (scanLsns). */
export interface ScanTask {
  scan: ScanSource;
  namespace: number;
  lsns: ArrayBuffer;
  values: boolean;
}

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
