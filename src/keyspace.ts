import { RecordBuffer } from './core/record-buffer.js';
import { insertChunked, isBulkSource, removeChunked } from './keyspace-bulk.js';
import { afterQueuedWrites, closable, scanChunks, withTurns } from './keyspace-scan.js';
import type { DbConnection } from './core/types.js';
import type { ValueCodec } from './encodings.js';
import { EmdbError, ErrorCode } from './errors.js';
import { RecordKind } from './format/constants.js';
import { KeyScratch, keyByteLength, keyList, type Key, type Keys } from './keys.js';
import { guard } from './guard.js';
import type { TxTarget } from './transaction.js';
import { refuseUnknownOptions } from './option-names.js';
import { Focus, Group } from './nested.js';
import { checkDeadline, deadlineFor, INSERT_AT_DEADLINE, Ttl, type TtlArg } from './ttl.js';
import { openRange, openRangeKeys, queries, rangeArray, sortedEntries, type RangeHost } from './range/api.js';
import type { RangePool } from './range/pool-scan.js';
import type { RangeIterOptions, RangeOptions } from './range/iterator.js';

export interface InsertManyOptions {
  /** One TTL for every entry of the call (default: Ttl.Default). */
  ttl?: TtlArg;
}

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
    /** ms applied by plain insert and Ttl.Default; undefined = records never expire unless asked. */
    readonly defaultTtl: number | undefined = undefined,
  ) {}

  /** @internal How a transaction stages writes into this key space. */
  txTarget(): TxTarget<V> {
    return {
      ns: this.ns,
      codec: this.codec,
      read: (key, keyLen) => this._get(key, keyLen),
      has: (key) => {
        // encode() first: it decides where the key's bytes are (scratch or the caller's array).
        const len = this.scratch.encode(key);
        return this.conn.view.lookupOne(this.ns, this.scratch.bytes, 0, len);
      },
      deadline: (ttl: unknown) => this.deadline(ttl),
      now: () => this.conn.view.now(),
    };
  }

  /** @internal The deadline (epoch ms, 0 = none) a write made now gets for `ttl` (validated: src/ttl.ts). */
  deadline(ttl: unknown): number {
    if (ttl === Ttl.Default && this.defaultTtl === undefined) return 0;
    return deadlineFor(ttl, this.defaultTtl, this.conn.view.now());
  }

  /** @internal The key space's id and separator, for focus/group (src/nested.ts). */
  get nsId(): number {
    return this.ns;
  }

  /** @internal */
  get separator(): string {
    return this.conn.options.separator;
  }

  /** @internal The connection, for focus/group (src/nested.ts). */
  get connection(): DbConnection {
    return this.conn;
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
      return this.conn.link.batcher.put(this.ns, key, keyLen, encoded, this.deadline(Ttl.Default));
    });
  }

  /**
   * Inserts with a TTL: milliseconds from now, `Ttl.Default` (the key space's
   * defaultTtl, or none) or `Ttl.Never`. The record carries an absolute
   * deadline; once it passes the key is invisible to every read, count and
   * iterator, and the writer's sweep removes it. A bad TTL is refused with
   * ERR_EMDB_INVALID_CONFIG and nothing is written.
   */
  insertWithTtl(key: Key, value: V | string | Uint8Array, ttl: TtlArg): Promise<void> {
    return guard(() => {
      this.assertLive();
      const keyLen = keyByteLength(key);
      const expiresAt = this.deadline(ttl);
      const encoded = this.codec.encode(value);
      return this.conn.link.batcher.put(this.ns, key, keyLen, encoded, expiresAt);
    });
  }

  /**
   * @internal `load`'s insert (src/ttl.ts, INSERT_AT_DEADLINE): the record gets
   * exactly `deadline` (epoch ms), the one its dump recorded, not a deadline
   * recomputed from a TTL against a clock read a millisecond later.
   */
  [INSERT_AT_DEADLINE](key: Key, value: V | string | Uint8Array, deadline: number): Promise<void> {
    return guard(() => {
      this.assertLive();
      const keyLen = keyByteLength(key);
      const expiresAt = checkDeadline(deadline);
      const encoded = this.codec.encode(value);
      return this.conn.link.batcher.put(this.ns, key, keyLen, encoded, expiresAt);
    });
  }

  /** Remaining milliseconds of the key's TTL; undefined when the key is missing, expired or has no TTL. */
  ttl(key: Key): Promise<number | undefined> {
    return guard(() => {
      this.assertLive();
      const at = this.deadlineOf(key);
      return Promise.resolve(at === undefined ? undefined : Math.max(1, at - this.conn.view.now()));
    });
  }

  /** The key's deadline in epoch milliseconds; undefined when the key is missing, expired or has no TTL. */
  expiresAt(key: Key): Promise<number | undefined> {
    return guard(() => {
      this.assertLive();
      return Promise.resolve(this.deadlineOf(key));
    });
  }

  /**
   * Clears the key's TTL, keeping its value. Resolves false, and writes
   * nothing, when the key is missing, already expired or has no TTL: the
   * writer decides when it applies the request, so an expired record is never revived.
   */
  persist(key: Key): Promise<boolean> {
    return guard(async () => {
      this.assertLive();
      const keyLen = keyByteLength(key);
      const bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : Uint8Array.from(key);
      if (bytes.length !== keyLen) throw new EmdbError(ErrorCode.INVALID_KEY, 'key changed while being read');
      const done = await this.conn.link.call({ t: 'persist', ns: this.ns, key: bytes });
      return done.persisted === true;
    });
  }

  /**
   * A view of the keys `prefix + separator + key` (src/nested.ts). An empty or
   * non-string prefix is refused with ERR_EMDB_INVALID_CONFIG.
   */
  focus(prefix: string): Focus<V> {
    this.assertLive();
    return new Focus<V>(this, prefix);
  }

  /** The keys under `prefix + separator` as a whole: count(), keys(), entries(), remove() (crash-atomic). */
  group(prefix: string): Promise<Group<V>> {
    return guard(() => {
      this.assertLive();
      return Promise.resolve(new Group<V>(this, prefix));
    });
  }

  /** @internal */
  decode(value: Buffer): V {
    return this.codec.decode(value, 0, value.length) as V;
  }

  /**
   * @internal The one way group and focus operations find the live entries
   * whose key starts with `prefix`. With rangeScans: a prefix walk of the
   * sorted index (cost proportional to the group, key order); without it a
   * scan of the whole index filtered here (cost proportional to the key space).
   */
  async *scanPrefix(prefix: Uint8Array, values: boolean): AsyncGenerator<[Buffer, Buffer]> {
    const view = await afterQueuedWrites(this.conn, this.ns, () => this.assertLive());
    if (view.sorted) {
      yield* withTurns(sortedEntries(this.rangeHost(), values, prefix));
      return;
    }
    for await (const entry of this.scanChunks(values)) {
      const key = entry[0];
      if (key.length >= prefix.length && Buffer.compare(key.subarray(0, prefix.length), prefix) === 0) yield entry;
    }
  }

  /** @internal Removes every key starting with `prefix` with one prefix-delete record, applied atomically by the writer. */
  removePrefix(prefix: Uint8Array): Promise<boolean> {
    this.assertLive();
    // Format 3's PREFIX_DELETE (docs/FORMAT.md): the prefix is the record's key.
    return this.conn.link.batcher.write(RecordKind.PREFIX_DELETE, this.ns, prefix, prefix.length, null, 0);
  }

  private deadlineOf(key: Key): number | undefined {
    const len = this.scratch.encode(key);
    const view = this.conn.view;
    if (!view.lookupOne(this.ns, this.scratch.bytes, 0, len)) return undefined;
    return view.valueExpiresAt === 0 ? undefined : view.valueExpiresAt;
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
    if (!view.lookupOne(this.ns, this.scratch.bytes, 0, len)) return undefined;
    return this.codec.decode(view.valueU8, view.valueStart, view.valueLen) as V;
  }

  /**
   * One consistent read: each write batch (a transaction, an insertMany chunk) is in
   * the answer whole or not at all (rule R6, shm/layout.ts); separate gets may see part of one.
   */
  getMany(keys: Keys): Promise<(V | undefined)[]> {
    return guard(() => {
      this.assertLive();
      const list = keyList(keys, 'getMany');
      const lens = list.map((k) => keyByteLength(k));
      const codec = this.codec;
      return this.conn.pool
        .lookupMany(this.ns, list, lens)
        .then((bufs) => bufs.map((buf) => (buf === undefined ? undefined : (codec.decode(buf, 0, buf.length) as V))));
    });
  }

  contains(key: Key): Promise<boolean> {
    return guard(() => {
      this.assertLive();
      const len = this.scratch.encode(key);
      const view = this.conn.view;
      return Promise.resolve(view.lookupOne(this.ns, this.scratch.bytes, 0, len));
    });
  }

  /** Resolves true when the key existed. */
  remove(key: Key): Promise<boolean> {
    return guard(() => {
      this.assertLive();
      const keyLen = keyByteLength(key);
      return this.conn.link.batcher.write(RecordKind.TOMBSTONE, this.ns, key, keyLen, null, 0);
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
      const { payload, bytes, count } = records.take();
      // call() sends the writes queued earlier first, so call order is write order.
      await this.conn.link.call({ t: 'write', count, bytes, existed: false }, payload);
    });
  }

  /** Live keys in this key space (exact; counted by the writer, no scan). */
  len(): Promise<number> {
    return guard(async () => {
      this.assertLive();
      const done = await this.conn.link.call({ t: 'count', ns: this.ns });
      return done.count ?? 0;
    });
  }

  async isEmpty(): Promise<boolean> {
    return (await this.len()) === 0;
  }

  clear(): Promise<void> {
    return guard(async () => {
      this.assertLive();
      await this.conn.link.batcher.write(RecordKind.CLEAR, this.ns, null, 0, null, 0);
    });
  }

  /**
   * Bulk load: entries are framed straight into multi-megabyte chunks, each sent
   * as one message and written with one pwrite. Each chunk is crash-atomic (a
   * transaction in the log); a stream larger than one chunk is not atomic as a
   * whole. Resolves with the number of entries written.
   */
  insertMany(
    entries: Iterable<readonly [Key, V | string | Uint8Array]> | AsyncIterable<readonly [Key, V | string | Uint8Array]>,
    opts: InsertManyOptions = {},
  ): Promise<number> {
    return guard(async () => {
      this.assertLive();
      if (typeof opts !== 'object' || opts === null) throw new EmdbError(ErrorCode.INVALID_CONFIG, 'insertMany options must be an object');
      refuseUnknownOptions(opts, ['ttl'], '', 'insertMany option');
      // One deadline for the whole call, taken when it starts.
      const expiresAt = this.deadline(opts.ttl === undefined ? Ttl.Default : opts.ttl);
      if (!isBulkSource(entries)) throw new EmdbError(ErrorCode.INVALID_CONFIG, 'insertMany takes an iterable of [key, value] pairs');
      return insertChunked(this.conn, this.ns, this.codec, entries, expiresAt, () => this.assertLive());
    });
  }

  /**
   * Bulk removal: one tombstone per key, in crash-atomic chunks like
   * insertMany's (a source larger than one chunk is not atomic as a whole).
   * Resolves with the number of keys that existed: a missing or expired key
   * counts 0 (remove() resolves false for it), a key given twice counts once.
   * Keys are validated as remove() does, before their chunk is sent. A call
   * that stops part-way (an invalid key, a refused chunk, close()) rejects
   * with an EmdbError whose `committed` is the number of keys in the chunks
   * applied before it stopped (removed or not: those removals are kept).
   */
  removeMany(keys: Keys | AsyncIterable<Key>): Promise<number> {
    return guard(() => {
      this.assertLive();
      if (!isBulkSource(keys)) throw new EmdbError(ErrorCode.INVALID_CONFIG, 'removeMany takes an iterable of keys, not one key');
      return removeChunked(this.conn, this.ns, keys, () => this.assertLive());
    });
  }

  /**
   * Streams every live entry. With `rangeScans: true`: in key order, from one
   * snapshot of the sorted index taken at this call (later writes and removals
   * do not show). Without it: unsorted, walking the live index table a window of
   * slots at a time, each window's records read in log order by the reader pool
   * (or by this thread when attached): every key that stays live during the
   * whole iteration is yielded exactly once, with a value it held during the
   * iteration (the value when its window was listed, or when the table was
   * rebuilt if that came first); a key written or removed meanwhile may or may
   * not be seen. Either way, writes
   * this thread made before calling iter() are included. `break` stops it; at
   * most one chunk read ahead is discarded.
   */
  iter(): AsyncIterableIterator<[Buffer, V]> {
    // rangeScans: one snapshot of the sorted index, taken at this call (after this thread's writes in flight).
    if (this.sortedNow()) return this.closable(openRange<V>(this.rangeHost(), queries.all));
    return this.closable(this.entries());
  }

  /** Like iter(), keys only. */
  keys(): AsyncIterableIterator<Buffer> {
    if (this.sortedNow()) return this.closable(openRangeKeys(this.rangeHost(), queries.all));
    return this.closable(this.keysOnly());
  }

  /** True when this database keeps the sorted index (rangeScans), i.e. iter() can be a snapshot taken now. */
  private sortedNow(): boolean {
    try {
      this.assertLive();
    } catch {
      // The closable wrapper reports it at the first next().
      return false;
    }
    const view = this.conn.view;
    view.sync();
    return view.sorted !== undefined;
  }

  private async *entries(): AsyncGenerator<[Buffer, V]> {
    for await (const [key, value] of this.scanChunks(true)) yield [key, this.codec.decode(value, 0, value.length) as V];
  }

  private async *keysOnly(): AsyncGenerator<Buffer> {
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
    return this.closable(openRange<V>(this.rangeHost(), queries.rangeIter(a, b, c)));
  }

  rangePrefixIter(prefix: Key, opts?: RangeIterOptions): AsyncIterableIterator<[Buffer, V]> {
    return this.closable(openRange<V>(this.rangeHost(), queries.prefix(prefix, opts)));
  }

  /** Cursor from `key` (inclusive) to the end of the key space. */
  iterFrom(key: Key, opts?: RangeIterOptions): AsyncIterableIterator<[Buffer, V]> {
    return this.closable(openRange<V>(this.rangeHost(), queries.from(key, opts)));
  }

  /** Cursor from just after `key` to the end of the key space. */
  iterAfter(key: Key, opts?: RangeIterOptions): AsyncIterableIterator<[Buffer, V]> {
    return this.closable(openRange<V>(this.rangeHost(), queries.after(key, opts)));
  }

  /** @internal What the range module needs of this key space. */
  rangeHost(): RangeHost {
    const pool = this.conn.pool as Partial<RangePool>;
    const assertLive = (): void => this.assertLive();
    const settle = this.conn.link.quiet() ? {} : { settle: () => afterQueuedWrites(this.conn, this.ns, assertLive) };
    return { view: this.conn.view, ns: this.ns, codec: this.codec, assertLive, ...(pool.range ? { pool: pool as RangePool } : {}), ...settle };
  }

  /** Wraps an iterator so next() rejects once the key space is closed (keyspace-scan.ts). */
  /** @internal Also what focus/group iterators are wrapped in (src/nested.ts). */
  closable<T>(gen: AsyncIterator<T>): AsyncIterableIterator<T> {
    return closable(gen, () => this.assertLive());
  }

  private scanChunks(values: boolean): AsyncGenerator<[Buffer, Buffer]> {
    return scanChunks(this.conn, this.ns, values, () => this.assertLive());
  }
}
