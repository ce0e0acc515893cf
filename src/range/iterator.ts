import type { ValueCodec } from '../encodings.js';
import { EmdbError, ErrorCode } from '../errors.js';
import { describe } from '../keys.js';
import type { SharedView } from '../shm/shared-view.js';
import { testMutant } from '../mutants.js';

/** Entries an async iterator hands out between two turns of the event loop (see RangeIterator.next). */
export const YIELD_EVERY = 4096;

/** Resolves after one turn of the event loop (timers and I/O callbacks run meanwhile). */
export function eventLoopTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
import { captureSnapshot, collectRange, pinnedBytes, type RangeQuery, type RangeSnapshot } from './snapshot.js';
import { unpinGeneration } from '../shm/framed-mirror.js';

/** Options of the iterator methods (Level-style bounds, as in abstract-level). */
export interface RangeOptions {
  gt?: string | Uint8Array;
  gte?: string | Uint8Array;
  lt?: string | Uint8Array;
  lte?: string | Uint8Array;
  /** Descending key order. */
  reverse?: boolean;
  /** At most this many entries; -1 (or absent, or Infinity) for no limit. */
  limit?: number;
}

/** Options of the positional forms (the bounds come from the arguments). */
export type RangeIterOptions = Pick<RangeOptions, 'reverse' | 'limit'>;

// Declared beside the scan, so a reader thread (pool-scan.ts) needs nothing of this module.
export type { RangeQuery } from './snapshot.js';

/** First chunk small (a 10-entry page costs little), then larger ones. */
const FIRST_CHUNK = 64;
const MAX_CHUNK = 4096;

/** A bound's bytes: a copy, so the caller may reuse its buffer after the call. */
export function boundBytes(v: unknown, what: string): Uint8Array | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (v instanceof Uint8Array) return Uint8Array.prototype.slice.call(v);
  throw new EmdbError(ErrorCode.INVALID_KEY, `${what} must be a string or a Uint8Array, got ${describe(v)}`);
}

function flags(opts: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (opts === undefined || opts === null) return {};
  if (typeof opts !== 'object' || Array.isArray(opts) || opts instanceof Uint8Array) {
    throw new EmdbError(ErrorCode.INVALID_CONFIG, 'range options must be an object');
  }
  const o = opts as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw new EmdbError(ErrorCode.INVALID_CONFIG, `unknown range option ${JSON.stringify(k)}`);
  }
  if (o.reverse !== undefined && typeof o.reverse !== 'boolean') throw new EmdbError(ErrorCode.INVALID_CONFIG, 'reverse must be a boolean');
  return o;
}

function limitOf(v: unknown): number {
  if (v === undefined || v === null || v === -1 || v === Infinity) return Infinity;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new EmdbError(ErrorCode.INVALID_CONFIG, 'limit must be an integer >= 0, or -1 for no limit');
  }
  return v;
}

const LEVEL_KEYS = ['gt', 'gte', 'lt', 'lte', 'reverse', 'limit'] as const;
const FLAG_KEYS = ['reverse', 'limit'] as const;

/** rangeIter(opts) with Level bounds; gte wins over gt and lte over lt when both are given (as in abstract-level). */
export function levelQuery(opts: unknown): RangeQuery {
  const o = flags(opts, LEVEL_KEYS);
  const gt = boundBytes(o.gt, 'gt');
  const gte = boundBytes(o.gte, 'gte');
  const lt = boundBytes(o.lt, 'lt');
  const lte = boundBytes(o.lte, 'lte');
  return {
    lower: gte ? { key: gte, exclusive: false } : { key: gt, exclusive: gt !== undefined },
    upper: lte ? { key: lte, exclusive: false } : { key: lt, exclusive: lt !== undefined },
    reverse: o.reverse === true,
    limit: limitOf(o.limit),
  };
}

/** [start, end) with positional bounds (undefined / null = open end). */
export function halfOpenQuery(start: unknown, end: unknown, opts: unknown): RangeQuery {
  const o = flags(opts, FLAG_KEYS);
  return {
    lower: { key: boundBytes(start, 'start'), exclusive: false },
    upper: { key: boundBytes(end, 'end'), exclusive: true },
    reverse: o.reverse === true,
    limit: limitOf(o.limit),
  };
}

/** Every key starting with `prefix`: [prefix, next(prefix)). */
export function prefixQuery(prefix: unknown, opts: unknown): RangeQuery {
  const p = boundBytes(prefix, 'prefix');
  if (p === undefined) throw new EmdbError(ErrorCode.INVALID_KEY, 'prefix must be a string or a Uint8Array');
  return halfOpenQuery(p, prefixEnd(p), opts);
}

/** iterFrom (inclusive) / iterAfter (exclusive): from `key` to the end of the key space. */
export function cursorQuery(key: unknown, exclusive: boolean, opts: unknown): RangeQuery {
  const k = boundBytes(key, 'key');
  if (k === undefined) throw new EmdbError(ErrorCode.INVALID_KEY, 'key must be a string or a Uint8Array');
  const o = flags(opts, FLAG_KEYS);
  return { lower: { key: k, exclusive }, upper: { key: undefined, exclusive: false }, reverse: o.reverse === true, limit: limitOf(o.limit) };
}

/**
 * The smallest key greater than every key with this prefix: trailing 0xFF
 * bytes dropped, the last byte incremented; undefined (no end) when nothing is left.
 */
export function prefixEnd(prefix: Uint8Array): Uint8Array | undefined {
  let n = prefix.length;
  while (n > 0 && prefix[n - 1] === 0xff) n--;
  if (n === 0) return undefined;
  // Uint8Array#slice copies (Buffer#slice would alias the prefix).
  const end = Uint8Array.prototype.slice.call(prefix, 0, n);
  end[n - 1]!++;
  return end;
}

/**
 * An iterator over one snapshot, taken by the constructor (so at the call
 * that created the iterator, not at the first next()). Entries are read in
 * chunks on this thread; each chunk resumes strictly after the last key seen.
 */
export class RangeIterator<V> implements AsyncIterableIterator<[Buffer, V]> {
  private snap: RangeSnapshot;
  private readonly query: RangeQuery;
  private remaining: number;
  /** The current chunk (core/scan.ts packing), read in place: `left` entries from byte `at`. */
  private packed: ArrayBuffer | undefined;
  private pdv: DataView | undefined;
  private at = 0;
  private left = 0;
  private chunk = FIRST_CHUNK;
  private finished = false;
  private failure: EmdbError | undefined;

  constructor(
    private readonly view: SharedView,
    private readonly ns: number,
    private readonly codec: ValueCodec | undefined,
    query: RangeQuery,
  ) {
    this.snap = captureSnapshot(view);
    this.query = { ...query, lower: { ...query.lower }, upper: { ...query.upper } };
    this.remaining = query.limit;
    // A bounded query (a page) is read in one chunk.
    if (query.limit <= MAX_CHUNK) this.chunk = Math.max(1, query.limit);
    if (this.remaining === 0 || inverted(query)) this.finished = true;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<[Buffer, V]>> {
    // The scan never waits, so a `for await` over it would run on microtasks alone and hold off
    // every timer, I/O callback and write reply until it ends: every YIELD_EVERY entries, one turn.
    if (++this.served % YIELD_EVERY === 0) return eventLoopTurn().then(() => this.nextSync());
    try {
      return Promise.resolve(this.nextSync());
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Entries handed out by next(), for its turns of the event loop. */
  private served = 0;

  /** The next entry, synchronously (the scan never waits for anything). */
  nextSync(): IteratorResult<[Buffer, V]> {
    if (this.failure) throw this.failure;
    for (;;) {
      if (this.left > 0) {
        this.left--;
        this.remaining--;
        const packed = this.packed!;
        const dv = this.pdv!;
        const at = this.at;
        const keyLen = dv.getUint32(at, true);
        const valueLen = dv.getUint32(at + 4, true);
        this.at = at + 8 + keyLen + valueLen;
        const key = Buffer.from(packed, at + 8, keyLen);
        // The chunk is this iterator's private copy: binary values need no second copy.
        const codec = this.codec;
        let v: unknown;
        if (codec !== undefined) {
          const value = Buffer.from(packed, at + 8 + keyLen, valueLen);
          v = codec.name === 'binary' ? value : codec.decode(value, 0, valueLen);
        }
        return { value: [key, v as V], done: false };
      }
      if (this.finished || this.remaining <= 0) {
        this.finished = true;
        unpinGeneration(this.snap, this.snap.mirror);
        return { value: undefined, done: true };
      }
      this.checkLimits();
      // The negative control of the snapshot-isolation test: a fresh snapshot per chunk must be caught.
      if (testMutant.name === 'resnapshot') this.snap = captureSnapshot(this.view);
      const q = this.query;
      const max = Math.min(this.remaining, this.chunk);
      this.chunk = Math.min(MAX_CHUNK, this.chunk * 4);
      let got;
      try {
        got = collectRange(this.snap, this.ns, q.lower, q.upper, q.reverse, max, this.codec !== undefined, this.view.now());
      } catch (err) {
        throw this.view.closedInstead(err);
      }
      if (got.done) this.finished = true;
      else if (got.last) {
        if (q.reverse) q.upper = { key: got.last, exclusive: true };
        else q.lower = { key: got.last, exclusive: true };
      }
      this.packed = got.packed;
      this.pdv = new DataView(got.packed);
      this.at = 4;
      this.left = got.count;
    }
  }

  return(): Promise<IteratorResult<[Buffer, V]>> {
    this.finished = true;
    this.left = 0;
    unpinGeneration(this.snap, this.snap.mirror);
    return Promise.resolve({ value: undefined, done: true });
  }

  /** ERR_EMDB_SNAPSHOT_TOO_OLD past the database's rangeSnapshotLimit (checked per chunk). */
  private checkLimits(): void {
    const { maxAgeMs, maxPinnedBytes } = this.snap.manifest;
    if (maxAgeMs > 0 && Date.now() - this.snap.createdAt > maxAgeMs) {
      this.fail(`the iterator is older than rangeSnapshotLimit.maxAgeMs (${maxAgeMs} ms)`);
    }
    if (maxPinnedBytes > 0) {
      this.view.sync();
      const pinned = pinnedBytes(this.snap, this.view);
      if (pinned > maxPinnedBytes) this.fail(`the iterator pins ${pinned} bytes of retired buffers, past rangeSnapshotLimit.maxPinnedBytes (${maxPinnedBytes})`);
    }
  }

  private fail(message: string): never {
    this.failure = new EmdbError(ErrorCode.SNAPSHOT_TOO_OLD, message);
    this.finished = true;
    this.left = 0;
    throw this.failure;
  }
}

/** Lower bound above upper bound (or equal with an exclusive end): nothing, as in Level. */
export function inverted(q: RangeQuery): boolean {
  const lo = q.lower.key;
  const hi = q.upper.key;
  if (lo === undefined || hi === undefined) return false;
  const c = Buffer.compare(lo, hi);
  return c > 0 || (c === 0 && (q.lower.exclusive || q.upper.exclusive));
}
