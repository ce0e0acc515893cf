import os from 'node:os';
import { codecFor, VALUE_ENCODINGS, type ValueCodec, type ValueEncoding } from './encodings.js';
import { EmdbError, ErrorCode } from './errors.js';
import { closest, refuseUnknownOptions } from './option-names.js';
import { resolveDatabasePath } from './paths.js';
import { resolveRangeScans, type RangeSnapshotLimit } from './range/options.js';
import type { SnapshotLimits } from './shm/sorted-writer.js';
import { checkDefaultTtl, checkSeparator } from './ttl.js';
import type { FlushPolicy, FlushPolicyOption } from './types.js';
import { CIPHER_NAMES } from './crypto/aead.js';
import type { EncryptionSpec } from './crypto/keys.js';
import { isWellFormed } from './keys.js';

/** The smallest page cache: the log's last page is pinned while the writer appends, and one more frame. */
const MIN_CACHE_BYTES = 2 * 65536;

export interface EncryptionOptions {
  /** Exactly 32 bytes. */
  key?: Uint8Array;
  /**
   * Non-empty and well-formed UTF-16 (a lone surrogate is refused: UTF-8 would
   * turn it into U+FFFD). Argon2id, 19 MiB, 2 passes, recorded in the file.
   */
  passphrase?: string;
  /** For a new file (default 'aes-256-gcm'); an existing file keeps its own. */
  cipher?: 'aes-256-gcm' | 'chacha20-poly1305';
}

/**
 * Emdb.open's options. `E` is the `valueEncoding` given, which the opened
 * database's value type follows (ValueOfEncoding).
 */
export interface OpenOptions<E extends ValueEncoding = ValueEncoding> {
  path?: string;
  appName?: string;
  databaseName?: string;
  dataRoot?: string;
  /** Reader worker threads (default: available parallelism). */
  readers?: number;
  flushPolicy?: FlushPolicyOption;
  rangeScans?: boolean;
  /** What one range iterator may pin (with rangeScans). */
  rangeSnapshotLimit?: RangeSnapshotLimit;
  /** Milliseconds; plain inserts and Ttl.Default get this TTL (default: none). */
  defaultTtl?: number;
  /** Between a focus/group prefix and the key (default '.'). Not persisted: open with the same one. */
  separator?: string;
  encryption?: EncryptionOptions;
  /** How values are stored and read back (default 'binary': Buffers); recorded when the database is created. */
  valueEncoding?: E;
  /**
   * Bytes of log pages kept in shared memory: the bounded page cache. Set, a
   * file-backed database keeps at most this much of its log in memory (at
   * least two 64 KiB pages) and reads the rest from the file (checked against
   * each record's CRC; encrypted: the sealed unit holding the record is read
   * and authenticated on the reading thread). `Infinity` keeps the whole log in
   * shared memory whatever its size. Unset (the default): the whole log while
   * it is at most a quarter of the memory this process may use (the machine's,
   * or its container's limit), and a cache of an eighth of that memory for a
   * larger log, decided at open, at each compaction and when the log grows
   * past that size while open (then it stays cached for the open). In-memory
   * databases, and encrypted files written by builds before sealed units
   * (record scheme 1, until a key rotation converts them), keep the whole
   * log either way (README, "Limits").
   */
  cacheSize?: number;
  /**
   * What open does with damage after the last checkpoint that a later durable
   * mark proves was durable: 'strict' (default) refuses with
   * ERR_EMDB_CORRUPTION and leaves the file untouched; 'salvage' cuts the log
   * at the damage and reports it in stats().recovery (docs/FORMAT.md, "Recovery").
   */
  recovery?: RecoveryMode;
  /**
   * Whether each user thread (the opening thread, and threads attached with
   * `Emdb.attach(db.handle())`, which follow the opener's setting) runs one
   * full garbage collection of its own heap shortly after a compaction has
   * replaced the log's shared memory, and after close() (default true). It
   * runs on an unref'd timer (~50 ms later), never inside your synchronous
   * code, and only once 16 MiB or more of buffers were dropped on that thread.
   *
   * The old log's memory is freed only once every thread that held it has
   * collected; a thread that mostly calls getSync allocates too little for V8
   * to collect on its own, and kept it for minutes, or until it exited (RSS
   * 5-9 times the file size, also after close). The collection is a pause on
   * that thread, once per compaction and once at close, that grows with the
   * thread's live heap: about 5 ms with a near-empty heap, 75-90 ms with
   * 50 MB of live objects and 0.6-0.8 s with 500 MB on a slow 2-core VM
   * (docs/DESIGN.md, "Compaction").
   * With false, the old log stays resident until the application's own
   * collections reach it on every thread that held it.
   */
  collectAfterCompaction?: boolean;
}

export type RecoveryMode = 'strict' | 'salvage';
export const RECOVERY_MODES: readonly RecoveryMode[] = ['strict', 'salvage'];

/**
 * Every option name Emdb.open accepts; anything else is refused (a typo must
 * never fall back to a default silently). Includes the options of the public
 * contract this build does not implement yet: those keep their own answer below.
 */
export const OPEN_OPTIONS: readonly (keyof OpenOptions)[] = [
  'path',
  'appName',
  'databaseName',
  'dataRoot',
  'readers',
  'flushPolicy',
  'rangeScans',
  'rangeSnapshotLimit',
  'defaultTtl',
  'separator',
  'encryption',
  'valueEncoding',
  'cacheSize',
  'recovery',
  'collectAfterCompaction',
];
const GROUP_FIELDS = ['kind', 'maxWaitMs', 'maxBatch'];
const FLUSH_KINDS = ['onEachFlush', 'group', 'writeThrough'];

/**
 * @internal The command line's open option (not for users: undocumented, and a
 * registry symbol only so that src/cli/, a user of the public API, can name it
 * without importing this module). Values are read
 * and written as the stored bytes whatever encoding the database and its
 * namespaces recorded; `valueEncoding`, when given, is what a new database or
 * namespace records and what an existing one must have recorded.
 */
export const RAW_VALUES = Symbol.for('emdb-js.rawValues');

export interface ResolvedOptions {
  path: string | null;
  readers: number;
  flushPolicy: FlushPolicy;
  codec: ValueCodec;
  /** The encoding the writer checks against the recorded one (and records on creation); undefined: accept any (RAW_VALUES). */
  storedEncoding: ValueEncoding | undefined;
  /** RAW_VALUES: every key space reads and writes stored bytes (codec 'binary'). */
  raw: boolean;
  /** ms, or undefined for none (src/ttl.ts). */
  defaultTtl: number | undefined;
  separator: string;
  /** Set when rangeScans: true. */
  rangeScans?: SnapshotLimits;
  recovery?: RecoveryMode;
  /** Validated encryption (a copy: the caller's object is not kept). */
  encryption?: EncryptionSpec;
  /** OpenOptions.collectAfterCompaction (default true); attached threads take the opener's (EmdbHandle). */
  collectAfterCompaction: boolean;
  /** OpenOptions.cacheSize: the bounded page cache's bytes; Infinity, the whole log always; unset, the default plan (writer/cache-plan.ts). */
  cacheSize?: number;
}

function invalid(message: string): EmdbError {
  return new EmdbError(ErrorCode.INVALID_CONFIG, message);
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function validFlushPolicy(p: unknown): FlushPolicy {
  if (p === undefined) return { kind: 'onEachFlush' };
  const kinds = FLUSH_KINDS.map((k) => `'${k}'`).join(', ');
  if (!isPlainObject(p)) {
    // `flushPolicy: 'group'` is the likeliest guess at the shape: show the shape.
    const named = typeof p === 'string' && FLUSH_KINDS.includes(p) ? ` (did you mean { kind: '${p}' }?)` : '';
    throw invalid(`flushPolicy must be an object such as { kind: 'group', maxWaitMs: 2 }, kind one of ${kinds}${named}`);
  }
  if (p.kind === undefined) {
    // A field under another name (`mode`, `type`) says more than "kind undefined".
    refuseUnknownOptions(p, GROUP_FIELDS, 'flushPolicy.');
    throw invalid(`flushPolicy needs a kind: one of ${kinds} ({ kind: 'group', maxWaitMs: 2 })`);
  }
  if (typeof p.kind !== 'string' || !FLUSH_KINDS.includes(p.kind)) {
    const guess = typeof p.kind === 'string' ? closest(p.kind, FLUSH_KINDS) : undefined;
    throw invalid(`unknown flushPolicy kind ${JSON.stringify(p.kind)}${guess ? ` (did you mean '${guess}'?)` : `: one of ${kinds}`}`);
  }
  if (p.kind !== 'group') {
    // The group fields on another kind mean the caller believes a group policy is set.
    for (const field of GROUP_FIELDS.slice(1)) {
      if (field in p) throw invalid(`flushPolicy.${field} applies only to kind 'group' (got kind ${JSON.stringify(p.kind)})`);
    }
    refuseUnknownOptions(p, ['kind'], 'flushPolicy.');
  } else {
    refuseUnknownOptions(p, GROUP_FIELDS, 'flushPolicy.');
  }
  switch (p.kind) {
    case 'onEachFlush':
      return { kind: 'onEachFlush' };
    case 'writeThrough':
      return { kind: 'writeThrough' };
    case 'group': {
      const maxWaitMs = p.maxWaitMs ?? 1;
      const maxBatch = p.maxBatch ?? os.availableParallelism();
      if (typeof maxWaitMs !== 'number' || !(maxWaitMs >= 0) || maxWaitMs > 10_000) {
        throw invalid('flushPolicy.maxWaitMs must be a number of milliseconds in [0, 10000]');
      }
      if (typeof maxBatch !== 'number' || !Number.isInteger(maxBatch) || maxBatch < 1) {
        throw invalid('flushPolicy.maxBatch must be a positive integer');
      }
      return { kind: 'group', maxWaitMs, maxBatch };
    }
    default:
      throw invalid(`unknown flushPolicy kind ${JSON.stringify(p.kind)}`);
  }
}

/**
 * Validates the encryption option. Messages name the fields, never their
 * values: a key or passphrase must not end up in an error or a log.
 */
export function validEncryption(e: unknown, what = 'encryption'): EncryptionSpec {
  if (!isPlainObject(e)) throw invalid(`${what} must be an object: { key } or { passphrase }, with an optional cipher`);
  refuseUnknownOptions(e, ['key', 'passphrase', 'cipher'], `${what}.`);
  const { key, passphrase, cipher } = e as EncryptionOptions;
  if ((key === undefined) === (passphrase === undefined)) throw invalid(`${what} takes exactly one of key and passphrase`);
  if (cipher !== undefined && !CIPHER_NAMES.includes(cipher)) {
    throw invalid(`${what}.cipher must be one of ${CIPHER_NAMES.map((c) => `'${c}'`).join(', ')}`);
  }
  if (key !== undefined) {
    if (!(key instanceof Uint8Array) || key.length !== 32) throw invalid(`${what}.key must be a Uint8Array of exactly 32 bytes`);
    return { key: Uint8Array.from(key), ...(cipher ? { cipher } : {}) };
  }
  if (typeof passphrase !== 'string' || passphrase.length === 0) throw invalid(`${what}.passphrase must be a non-empty string`);
  // UTF-8 (what Argon2id is given) has no form for a lone surrogate: every one became U+FFFD, so
  // 'pw-\ud800', 'pw-\udfff' and 'pw-\ufffd' were one passphrase. Refused, as in keys and values.
  if (!isWellFormed(passphrase)) throw invalid(`${what}.passphrase must be well-formed UTF-16: it contains a lone surrogate, which UTF-8 cannot encode`);
  return { passphrase, ...(cipher ? { cipher } : {}) };
}

/**
 * Validates every option before anything touches the disk. Options this build
 * does not implement are refused loudly instead of being silently ignored.
 */
export function resolveOptions(options: OpenOptions, inMemory: boolean): ResolvedOptions {
  if (!isPlainObject(options as unknown)) throw invalid('options must be an object');
  refuseUnknownOptions(options, OPEN_OPTIONS);
  const readers = options.readers ?? Math.min(os.availableParallelism(), 8);
  if (typeof readers !== 'number' || !Number.isInteger(readers) || readers < 1 || readers > 256) {
    throw invalid('readers must be an integer in [1, 256]');
  }
  const raw = (options as { [RAW_VALUES]?: unknown })[RAW_VALUES] === true;
  const encoding = options.valueEncoding ?? 'binary';
  if (!VALUE_ENCODINGS.includes(encoding)) {
    const guess = typeof encoding === 'string' ? closest(encoding, VALUE_ENCODINGS) : undefined;
    throw invalid(`valueEncoding must be one of ${VALUE_ENCODINGS.join(', ')}${guess ? ` (did you mean '${guess}'?)` : ''}`);
  }
  const rangeScans = resolveRangeScans(options.rangeScans, options.rangeSnapshotLimit);
  const encryption = options.encryption === undefined ? undefined : validEncryption(options.encryption);
  if (encryption && inMemory) throw invalid('an in-memory database has nothing at rest to encrypt: encryption needs a path');
  const defaultTtl = checkDefaultTtl(options.defaultTtl);
  const cacheSize = options.cacheSize;
  if (cacheSize !== undefined && cacheSize !== Infinity && (typeof cacheSize !== 'number' || !Number.isSafeInteger(cacheSize) || cacheSize < MIN_CACHE_BYTES || cacheSize > os.totalmem())) {
    throw invalid(
      `cacheSize must be a whole number of bytes from ${MIN_CACHE_BYTES} (two 64 KiB pages) to this machine's memory (${os.totalmem()}), or Infinity to keep the whole log in memory; got ${String(cacheSize)} (leave it out for the default: the whole log while it is under a quarter of the memory)`,
    );
  }
  const separator = checkSeparator(options.separator);
  const recovery = options.recovery ?? 'strict';
  if (!RECOVERY_MODES.includes(recovery)) {
    throw invalid(`recovery must be one of ${RECOVERY_MODES.map((m) => `'${m}'`).join(', ')}, got ${JSON.stringify(recovery)}`);
  }
  const collectAfterCompaction = options.collectAfterCompaction ?? true;
  if (typeof collectAfterCompaction !== 'boolean') throw invalid(`collectAfterCompaction must be a boolean (got ${typeof collectAfterCompaction})`);
  let path: string | null = null;
  if (inMemory) {
    if (options.path !== undefined || options.appName !== undefined || options.databaseName !== undefined || options.dataRoot !== undefined) {
      throw invalid('an in-memory database takes no path options');
    }
  } else {
    path = resolveDatabasePath(options);
  }
  return {
    path,
    readers,
    flushPolicy: validFlushPolicy(options.flushPolicy),
    codec: codecFor(raw ? 'binary' : encoding),
    storedEncoding: raw ? options.valueEncoding : encoding,
    raw,
    recovery,
    defaultTtl,
    separator,
    collectAfterCompaction,
    ...(rangeScans ? { rangeScans } : {}),
    ...(encryption ? { encryption } : {}),
    ...(cacheSize !== undefined ? { cacheSize } : {}),
  };
}

/**
 * The options Emdb.open's arguments stand for: `()`, `(path)`, `(path, options)`
 * or `(options)`. Validated here so resolveOptions sees one object.
 */
export function openArguments(args: readonly unknown[]): OpenOptions {
  if (args.length === 0) return {};
  const [first, second] = args;
  if (first === undefined || first === null) {
    throw invalid(`Emdb.open got ${String(first)}: pass a path or an options object (Emdb.open() with no argument opens the default database)`);
  }
  if (typeof first !== 'string') {
    if (second !== undefined) throw invalid('Emdb.open(options) takes one argument; use Emdb.open(path, options) to give both');
    return first as OpenOptions;
  }
  if (second === undefined) return { path: first };
  if (!isPlainObject(second)) throw invalid('options must be an object');
  if (second.path !== undefined) throw invalid('path is given twice: as the first argument and in options');
  return { ...(second as OpenOptions), path: first };
}
