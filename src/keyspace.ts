import { RecordBuffer } from './core/record-buffer.js';
import type { DbConnection } from './core/types.js';
import type { ValueCodec } from './encodings.js';
import { EmdbError, ErrorCode } from './errors.js';
import { RecordKind } from './format/constants.js';
import { KeyScratch, keyByteLength, type Key } from './keys.js';
import { tableCapacity, unpackScan, type ScanSource } from './core/scan.js';
import type { TxTarget } from './transaction.js';
import { openRange, queries, rangeArray, sortedEntries, type RangeHost } from './range/api.js';
import type { RangePool } from './range/pool-scan.js';
import type { RangeIterOptions, RangeOptions } from './range/iterator.js';

/** insertMany sends chunks of about this size, each one crash-atomic. */
const BULK_CHUNK_BYTES = 4 << 20;
/** Chunks in flight to the writer at once: enough to overlap encoding and writing. */
const BULK_IN_FLIGHT = 3;
/** Index slots per iteration chunk: a few MiB of entries at most, so memory stays flat. */
const SCAN_SLOTS = 16_384;

/**
 * The core key-value operations of one key space: the database's default
 * namespace (Emdb) or a named one (Namespace). Public methods validate their
 * arguments, then do the work (the abstract-level get() → _get() pattern), so
 * bad input is rejected with a typed EmdbError before anything reaches the writer.
 */
export class KeySpace<V = unknown> {
  private readonly scratch = new KeyScratch();

  protected constructor(
    protected readonly conn: DbConnection,
    protected readonly ns: number,
    protected readonly codec: ValueCodec,
  ) {}

  /** @internal How a transaction stages writes into this key space. */
  txTarget(): TxTarget<V> {
    return { ns: this.ns, codec: this.codec, read: (key, keyLen) => this._get(key, keyLen) };
  }

  /** The value encoding of this key space. */
  get valueEncoding(): ValueCodec['name'] {
    return this.codec.name;
  }

  /** Throws ERR_EMDB_CLOSED when the database (or this namespace) is gone. */
  protected assertLive(): void {
    this.conn.assertOpen();
  }

  insert(key: Key, value: V | string | Uint8Array): Promise<void> {
    return guard(() => {
      this.assertLive();
      const keyLen = keyByteLength(key);
      const encoded = this.codec.encode(value);
      return this.conn.batcher.put(this.ns, key, keyLen, encoded, 0);
    });
  }

  get(key: Key): Promise<V | undefined> {
    return guard(() => {
      this.assertLive();
      const keyLen = keyByteLength(key);
      return this._get(key, keyLen);
    });
  }

  /** @internal */
  _get(key: Key, keyLen: number): Promise<V | undefined> {
    const codec = this.codec;
    return this.conn.pool
      .lookup(this.ns, key, keyLen)
      .then((buf) => (buf === undefined ? undefined : (codec.decode(buf, 0, buf.length) as V)));
  }

  /**
   * Probes the shared index on the calling thread: no message, no copy of the
   * index; the value is copied out of shared memory (binary) or decoded from it.
   */
  getSync(key: Key): V | undefined {
    this.assertLive();
    const view = this.conn.view;
    const len = this.scratch.encode(key);
    view.sync();
    view.countReads(1);
    if (!view.locate(this.ns, this.scratch.bytes, 0, len)) return undefined;
    if (view.expiresAt !== 0 && view.expiresAt <= Date.now()) return undefined;
    return this.codec.decode(view.valueU8, view.valueStart, view.valueLen) as V;
  }

  getMany(keys: Iterable<Key>): Promise<(V | undefined)[]> {
    return guard(() => {
      this.assertLive();
      const list = [...keys];
      const lens = list.map((k) => keyByteLength(k));
      return Promise.all(list.map((k, i) => this._get(k, lens[i]!)));
    });
  }

  contains(key: Key): Promise<boolean> {
    return guard(() => {
      this.assertLive();
      const len = this.scratch.encode(key);
      const view = this.conn.view;
      view.sync();
      view.countReads(1);
      const found = view.locate(this.ns, this.scratch.bytes, 0, len);
      return Promise.resolve(found && (view.expiresAt === 0 || view.expiresAt > Date.now()));
    });
  }

  /** Resolves true when the key existed. */
  remove(key: Key): Promise<boolean> {
    return guard(() => {
      this.assertLive();
      const keyLen = keyByteLength(key);
      return this.conn.batcher.write(RecordKind.TOMBSTONE, this.ns, key, keyLen, null, 0);
    });
  }

  /**
   * @internal One crash-atomic writer batch (a log transaction) of puts and
   * removals (value null), applied in order: what the Level adapter's batch()
   * needs without a transaction's read-before-remove. Validates every entry first.
   */
  _writeBatch(ops: readonly (readonly [Key, V | string | Uint8Array | null])[]): Promise<void> {
    return guard(async () => {
      this.assertLive();
      if (ops.length === 0) return;
      const records = new RecordBuffer();
      records.beginTx();
      for (const [key, value] of ops) {
        const keyLen = keyByteLength(key);
        if (value === null) records.append(RecordKind.TOMBSTONE, this.ns, key, keyLen, null, 0);
        else records.append(RecordKind.PUT, this.ns, key, keyLen, this.codec.encode(value), 0);
      }
      records.commitTx();
      // Writes queued earlier go first, so call order is write order.
      this.conn.batcher.send();
      const { payload, bytes, count } = records.take();
      await this.conn.client.request({ t: 'write', count, bytes, existed: false }, payload);
    });
  }

  /** Live keys in this key space (exact; counted by the writer, no scan). */
  len(): Promise<number> {
    return guard(async () => {
      this.assertLive();
      this.conn.batcher.send();
      const done = await this.conn.client.request({ t: 'count', ns: this.ns });
      return done.count ?? 0;
    });
  }

  async isEmpty(): Promise<boolean> {
    return (await this.len()) === 0;
  }

  clear(): Promise<void> {
    return guard(async () => {
      this.assertLive();
      await this.conn.batcher.write(RecordKind.CLEAR, this.ns, null, 0, null, 0);
    });
  }

  /**
   * Bulk load: entries are framed straight into multi-megabyte chunks, each sent
   * as one message and written with one pwrite. Each chunk is crash-atomic (a
   * transaction in the log); a stream larger than one chunk is not atomic as a
   * whole. Resolves with the number of entries written.
   */
  insertMany(entries: Iterable<readonly [Key, V | string | Uint8Array]> | AsyncIterable<readonly [Key, V | string | Uint8Array]>): Promise<number> {
    return guard(async () => {
      this.assertLive();
      if (entries === null || typeof entries !== 'object' || (!(Symbol.iterator in entries) && !(Symbol.asyncIterator in entries))) {
        throw new EmdbError(ErrorCode.INVALID_CONFIG, 'insertMany takes an iterable of [key, value] pairs');
      }
      // Anything queued by earlier calls goes first, so call order is write order.
      this.conn.batcher.send();
      const codec = this.codec;
      const inFlight: Promise<unknown>[] = [];
      const chunkCapacity = BULK_CHUNK_BYTES + (64 << 10);
      const records = new RecordBuffer(chunkCapacity);
      const spare: ArrayBuffer[] = [];
      let count = 0;
      const sendChunk = async (): Promise<void> => {
        records.commitTx();
        const { payload, bytes, count: n } = records.take(spare.pop() ?? chunkCapacity);
        const sent = this.conn.client.request({ t: 'write', count: n, bytes, existed: false }, payload);
        inFlight.push(sent.then((done) => void (done.payload && done.payload.byteLength >= chunkCapacity && spare.push(done.payload))));
        if (inFlight.length >= BULK_IN_FLIGHT) await inFlight.shift();
      };
      const add = (entry: unknown): boolean => {
        if (!Array.isArray(entry) || entry.length < 2) {
          throw new EmdbError(ErrorCode.INVALID_CONFIG, 'insertMany entries must be [key, value] pairs');
        }
        const key = entry[0] as Key;
        const keyLen = keyByteLength(key);
        const encoded = codec.encode(entry[1]);
        if (!records.inTx) records.beginTx();
        records.append(RecordKind.PUT, this.ns, key, keyLen, encoded, 0);
        count++;
        return records.len >= BULK_CHUNK_BYTES;
      };
      // A sync iterable is walked synchronously: `for await` would cost a promise per entry.
      if (Symbol.iterator in entries) {
        for (const entry of entries) if (add(entry)) await sendChunk();
      } else {
        for await (const entry of entries) if (add(entry)) await sendChunk();
      }
      if (records.inTx) await sendChunk();
      await Promise.all(inFlight);
      return count;
    });
  }

  /**
   * Streams every live entry, unsorted, in chunks read by the reader pool (or by
   * this thread when attached). It walks the index table as it was when the
   * iteration started: every key that stays live during the whole iteration is
   * yielded exactly once; a key written or removed meanwhile may or may not be
   * seen, and if the table is rebuilt meanwhile, values are those of the moment
   * of the rebuild. Writes this thread made before calling iter() are included.
   * `break` stops it; at most one chunk read ahead is discarded.
   */
  async *iter(): AsyncIterableIterator<[Buffer, V]> {
    for await (const [key, value] of this.scanChunks(true)) yield [key, this.codec.decode(value, 0, value.length) as V];
  }

  /** Like iter(), keys only. */
  async *keys(): AsyncIterableIterator<Buffer> {
    for await (const [key] of this.scanChunks(false)) yield key;
  }

  // ---- range queries (rangeScans: true); the work is in src/range/ ----

  /** Entries with start <= key < end in key order (bytewise); null/undefined = open end. Needs rangeScans. */
  range(start: Key | null | undefined, end: Key | null | undefined): Promise<[Buffer, V][]> {
    return guard(() => rangeArray<V>(this.rangeHost(), queries.halfOpen(start, end)));
  }

  /** Entries whose key starts with `prefix`, in key order. */
  rangePrefix(prefix: Key): Promise<[Buffer, V][]> {
    return guard(() => rangeArray<V>(this.rangeHost(), queries.prefix(prefix, undefined)));
  }

  /** [start, end), or Level bounds (gt/gte/lt/lte); reverse, limit. One snapshot, taken at this call. */
  rangeIter(start: Key | null | undefined, end: Key | null | undefined, opts?: RangeIterOptions): AsyncIterableIterator<[Buffer, V]>;
  rangeIter(opts?: RangeOptions): AsyncIterableIterator<[Buffer, V]>;
  rangeIter(a?: unknown, b?: unknown, c?: unknown): AsyncIterableIterator<[Buffer, V]> {
    return openRange<V>(this.rangeHost(), queries.rangeIter(a, b, c));
  }

  rangePrefixIter(prefix: Key, opts?: RangeIterOptions): AsyncIterableIterator<[Buffer, V]> {
    return openRange<V>(this.rangeHost(), queries.prefix(prefix, opts));
  }

  /** Cursor from `key` (inclusive) to the end of the key space. */
  iterFrom(key: Key, opts?: RangeIterOptions): AsyncIterableIterator<[Buffer, V]> {
    return openRange<V>(this.rangeHost(), queries.from(key, opts));
  }

  /** Cursor from just after `key` to the end of the key space. */
  iterAfter(key: Key, opts?: RangeIterOptions): AsyncIterableIterator<[Buffer, V]> {
    return openRange<V>(this.rangeHost(), queries.after(key, opts));
  }

  /** @internal What the range module needs of this key space. */
  rangeHost(): RangeHost {
    const pool = this.conn.pool as Partial<RangePool>;
    return { view: this.conn.view, ns: this.ns, codec: this.codec, assertLive: () => this.assertLive(), ...(pool.range ? { pool: pool as RangePool } : {}) };
  }

  private async *scanChunks(values: boolean): AsyncGenerator<[Buffer, Buffer]> {
    this.assertLive();
    this.conn.batcher.send();
    // A round trip to the writer after the queued writes: they are applied when it returns.
    await this.conn.client.request({ t: 'count', ns: this.ns });
    const view = this.conn.view;
    view.sync();
    if (!view.index || !view.mirror) return;
    // rangeScans: key order, from one snapshot of the sorted index (src/range/).
    if (view.sorted) return yield* sortedEntries(this.rangeHost(), values);
    const source: ScanSource = { index: view.index.buffer, segments: [...view.mirror.buffers] };
    const capacity = tableCapacity(source.index);
    const reader = this.conn.pool;
    let next = reader.scan(source, this.ns, 0, SCAN_SLOTS, values);
    for (let from = 0; from < capacity; from += SCAN_SLOTS) {
      const packed = await next;
      // Read one chunk ahead while the caller consumes this one.
      if (from + SCAN_SLOTS < capacity) next = reader.scan(source, this.ns, from + SCAN_SLOTS, SCAN_SLOTS, values);
      yield* unpackScan(packed);
    }
  }
}

/** Runs `fn`, turning a synchronous throw into a rejected promise. */
export function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (err) {
    return Promise.reject(err);
  }
}
