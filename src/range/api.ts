import type { ValueCodec } from '../encodings.js';
import type { SharedView } from '../shm/shared-view.js';
import { unpackScan } from '../shm/scan.js';
import { cursorQuery, halfOpenQuery, inverted, levelQuery, prefixQuery, RangeIterator, type RangeQuery } from './iterator.js';
import { rangeTask, type RangePool } from './pool-scan.js';
import { captureSnapshot } from './snapshot.js';

/** Entries per reader-pool task of range() / rangePrefix(). */
const POOL_CHUNK = 4096;

/** What a key space lends the range methods. */
export interface RangeHost {
  view: SharedView;
  ns: number;
  codec: ValueCodec;
  /** Throws ERR_EMDB_CLOSED when the database or namespace is gone. */
  assertLive(): void;
  /** The reader pool of the opening thread; absent on an attached thread, which scans itself. */
  pool?: RangePool;
  /**
   * Present when this thread has writes queued or unanswered: resolves once
   * they are applied. The snapshot is taken after it, so an iterator includes
   * the writes its thread made before creating it (README, "What a read sees").
   */
  settle?: () => Promise<unknown>;
}

/** An iterator whose first next() rejects: an iterator method never throws synchronously. */
function failed<T>(err: unknown): AsyncIterableIterator<T> {
  let thrown = false;
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    next: () => {
      if (thrown) return Promise.resolve({ value: undefined, done: true });
      thrown = true;
      return Promise.reject(err);
    },
    return: () => Promise.resolve({ value: undefined, done: true }),
  };
}

/**
 * Opens an iterator on a snapshot taken now, or, when this thread's own writes
 * are still in flight, as soon as they are applied; validation and capture
 * errors surface at the first next().
 */
export function openRange<V>(host: RangeHost, makeQuery: () => RangeQuery): AsyncIterableIterator<[Buffer, V]> {
  return openWith<V>(host, makeQuery, host.codec);
}

/** openRange without values (keys(): nothing is copied out of the mirror but the keys). */
export function openRangeKeys(host: RangeHost, makeQuery: () => RangeQuery): AsyncIterableIterator<Buffer> {
  const it = openWith<undefined>(host, makeQuery, undefined);
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    next: () => it.next().then((r) => (r.done ? r : { value: r.value[0], done: false })),
    return: () => (it.return ? it.return() : Promise.resolve({ value: undefined, done: true as const })).then(() => ({ value: undefined, done: true as const })),
  };
}

function openWith<V>(host: RangeHost, makeQuery: () => RangeQuery, codec: ValueCodec | undefined): AsyncIterableIterator<[Buffer, V]> {
  try {
    host.assertLive();
    const query = makeQuery();
    const settle = host.settle;
    if (!settle) return new RangeIterator<V>(host.view, host.ns, codec, query);
    return afterSettled(
      settle().then(() => {
        host.assertLive();
        return new RangeIterator<V>(host.view, host.ns, codec, query);
      }),
    );
  } catch (err) {
    return failed(err);
  }
}

/** An iterator that starts once `ready` gives it the real one; a failure reaches the first next(), never unobserved. */
function afterSettled<T>(ready: Promise<AsyncIterableIterator<T>>): AsyncIterableIterator<T> {
  ready.catch(() => undefined);
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    next: () => ready.then((it) => it.next()),
    return: () =>
      ready.then(
        (it) => it.return?.() ?? { value: undefined, done: true },
        () => ({ value: undefined, done: true }),
      ),
  };
}

/** Keys only: values are not copied out of the mirror. */
export function openKeys(host: RangeHost, query: RangeQuery): AsyncIterableIterator<Buffer> {
  const it = new RangeIterator<undefined>(host.view, host.ns, undefined, query);
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    next: () => it.next().then((r) => (r.done ? r : { value: r.value[0], done: false })),
    return: () => it.return().then(() => ({ value: undefined, done: true })),
  };
}

/**
 * range() / rangePrefix(): the snapshot is taken at the call; the opening
 * thread hands the scan to its reader pool a chunk at a time (the main thread
 * only decodes), an attached thread scans on its own.
 */
export async function rangeArray<V>(withSettle: RangeHost, makeQuery: () => RangeQuery): Promise<[Buffer, V][]> {
  const { settle, ...host } = withSettle;
  host.assertLive();
  if (settle) {
    // The query is validated before the wait, as without one.
    makeQuery();
    await settle();
    host.assertLive();
  }
  const pool = host.pool;
  if (!pool) return collectAll(openRange<V>(host, makeQuery));
  const q = makeQuery();
  const snap = captureSnapshot(host.view);
  const out: [Buffer, V][] = [];
  if (q.limit === 0 || inverted(q)) return out;
  const codec = host.codec;
  for (;;) {
    const max = Math.min(POOL_CHUNK, q.limit - out.length);
    const chunk = await pool.range(rangeTask(snap, host.ns, q, max, true, host.view.now()));
    for (const [key, value] of unpackScan(chunk.packed)) out.push([key, codec.decode(value, 0, value.length) as V]);
    if (chunk.done || out.length >= q.limit || !chunk.last) return out;
    if (q.reverse) q.upper = { key: chunk.last, exclusive: true };
    else q.lower = { key: chunk.last, exclusive: true };
  }
}

/** Drains a fresh iterator into an array (range / rangePrefix). */
export async function collectAll<V>(it: AsyncIterableIterator<[Buffer, V]>): Promise<[Buffer, V][]> {
  const out: [Buffer, V][] = [];
  if (it instanceof RangeIterator) {
    for (let r = it.nextSync(); !r.done; r = it.nextSync()) out.push(r.value as [Buffer, V]);
    return out;
  }
  for await (const e of it) out.push(e);
  return out;
}

/** Values as the raw bytes the scan copied out (iter() decodes them itself). */
const RAW: ValueCodec = { name: 'binary', encode: (v) => v as Uint8Array, decode: (u8, start, len) => (start === 0 && len === u8.length ? u8 : u8.subarray(start, start + len)) };

/**
 * Focus and group scans of a rangeScans database: the keys starting with
 * `prefix` in key order, values raw (cost proportional to the group). Expired
 * records are skipped (collectRange).
 */
export function* sortedEntries(host: RangeHost, values: boolean, prefix: Uint8Array): Generator<[Buffer, Buffer]> {
  const query = prefixQuery(prefix, undefined);
  const it = new RangeIterator<Buffer>(host.view, host.ns, values ? RAW : undefined, query);
  for (let r = it.nextSync(); !r.done; r = it.nextSync()) yield [r.value[0], r.value[1] ?? EMPTY];
}
const EMPTY = Buffer.alloc(0);

export const queries = {
  halfOpen: (start: unknown, end: unknown) => () => halfOpenQuery(start, end, undefined),
  /** rangeIter(start, end, opts?) or rangeIter(opts) */
  rangeIter(a: unknown, b: unknown, c: unknown): () => RangeQuery {
    const isOpts = a !== null && typeof a === 'object' && !(a instanceof Uint8Array) && b === undefined && c === undefined;
    return isOpts ? () => levelQuery(a) : () => halfOpenQuery(a, b, c);
  },
  prefix: (p: unknown, opts: unknown) => () => prefixQuery(p, opts),
  from: (k: unknown, opts: unknown) => () => cursorQuery(k, false, opts),
  after: (k: unknown, opts: unknown) => () => cursorQuery(k, true, opts),
  all: (): RangeQuery => ({ lower: { key: undefined, exclusive: false }, upper: { key: undefined, exclusive: false }, reverse: false, limit: Infinity }),
};
