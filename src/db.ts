import { AttachedConnection, isHandle } from './core/attached.js';
import { Connection } from './core/connection.js';
import type { DbConnection } from './core/types.js';
import { RecordBuffer } from './core/record-buffer.js';
import { EmdbError, ErrorCode } from './errors.js';
import { RecordKind } from './format/constants.js';
import { KeyScratch, keyByteLength, type Key } from './keys.js';
import { breakLock, lockHolder, type LockInfo } from './lock.js';
import { resolveOptions, type OpenOptions } from './options.js';
import { resolveDatabasePath } from './paths.js';
import type { EmdbHandle, StatsSnapshot } from './protocol.js';
import { Transaction } from './transaction.js';
import { Ctl64 } from './shm/layout.js';

/** insertMany sends chunks of about this size, each one crash-atomic. */
const BULK_CHUNK_BYTES = 4 << 20;
/** Chunks in flight to the writer at once: enough to overlap encoding and writing. */
const BULK_IN_FLIGHT = 3;
const DEFAULT_NAMESPACE = 0;

export type Stats = StatsSnapshot & { readers: number };

/**
 * An open emdb-js database. Public methods validate their arguments and then
 * call the internal `_` methods (the abstract-level pattern), so every bad input
 * is rejected with a typed EmdbError before anything reaches the writer.
 */
export class Emdb<V = unknown> {
  private readonly scratch = new KeyScratch();

  /** Transactions run one at a time: each waits for the previous commit or abort. */
  private txQueue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly conn: DbConnection) {}

  static open<V = Buffer>(pathOrOptions: string | OpenOptions, options: OpenOptions = {}): Promise<Emdb<V>> {
    return guard(async () => {
      const opts = typeof pathOrOptions === 'string' ? { ...options, path: pathOrOptions } : pathOrOptions;
      if (typeof pathOrOptions === 'string' && (options.appName !== undefined || options.databaseName !== undefined || options.dataRoot !== undefined)) {
        throw new EmdbError(ErrorCode.INVALID_CONFIG, 'a path cannot be combined with appName/databaseName/dataRoot');
      }
      return new Emdb<V>(await Connection.open(resolveOptions(opts ?? {}, false)));
    });
  }

  static openInMemory<V = Buffer>(options: OpenOptions = {}): Promise<Emdb<V>> {
    return guard(async () => new Emdb<V>(await Connection.open(resolveOptions(options, true))));
  }

  /**
   * Opens, in another worker thread, the database behind `handle` (from
   * `db.handle()`): reads probe the same shared index on that thread (getSync
   * works there) and writes go to the same writer. Closing an attached database
   * detaches it; closing the original makes attached ones fail with ERR_EMDB_CLOSED.
   */
  static attach<V = Buffer>(handle: EmdbHandle): Promise<Emdb<V>> {
    return guard(async () => {
      if (!isHandle(handle)) throw new EmdbError(ErrorCode.INVALID_CONFIG, 'Emdb.attach takes a handle from db.handle()');
      return new Emdb<V>(await AttachedConnection.attach(handle));
    });
  }

  /** A structured-cloneable descriptor to pass to a Worker (postMessage / workerData) for Emdb.attach(). */
  handle(): EmdbHandle {
    return this.conn.handle();
  }

  /** Who holds the database's lock ({ pid, hostname, startedAt }), or undefined. Offline admin. */
  static lockHolder(path: string): Promise<LockInfo | undefined> {
    return guard(() => lockHolder(resolveDatabasePath({ path })));
  }

  /** Removes a lock whose holder is provably gone; a live holder's lock is refused with ERR_EMDB_LOCKED. */
  static breakLock(path: string): Promise<void> {
    return guard(() => breakLock(resolveDatabasePath({ path })));
  }

  /** The file backing this database, or null in memory. */
  get path(): string | null {
    return this.conn.options.path;
  }

  insert(key: Key, value: V | string | Uint8Array): Promise<void> {
    return guard(() => {
      this.conn.assertOpen();
      const keyLen = keyByteLength(key);
      const encoded = this.conn.options.codec.encode(value);
      return this.conn.batcher.put(DEFAULT_NAMESPACE, key, keyLen, encoded, 0);
    });
  }

  get(key: Key): Promise<V | undefined> {
    return guard(() => {
      this.conn.assertOpen();
      const keyLen = keyByteLength(key);
      return this._get(key, keyLen);
    });
  }

  private _get(key: Key, keyLen: number): Promise<V | undefined> {
    const codec = this.conn.options.codec;
    return this.conn.pool
      .lookup(DEFAULT_NAMESPACE, key, keyLen)
      .then((buf) => (buf === undefined ? undefined : (codec.decode(buf, 0, buf.length) as V)));
  }

  /**
   * Probes the shared index on the calling thread: no message, no copy of the
   * index; the value is copied out of shared memory (binary) or decoded from it.
   */
  getSync(key: Key): V | undefined {
    this.conn.assertOpen();
    const view = this.conn.view;
    const len = this.scratch.encode(key);
    view.sync();
    if (!view.locate(DEFAULT_NAMESPACE, this.scratch.bytes, 0, len)) return undefined;
    if (view.expiresAt !== 0 && view.expiresAt <= Date.now()) return undefined;
    return this.conn.options.codec.decode(view.valueU8, view.valueStart, view.valueLen) as V;
  }

  getMany(keys: Iterable<Key>): Promise<(V | undefined)[]> {
    return guard(() => {
      this.conn.assertOpen();
      const list = [...keys];
      const lens = list.map((k) => keyByteLength(k));
      return Promise.all(list.map((k, i) => this._get(k, lens[i]!)));
    });
  }

  contains(key: Key): Promise<boolean> {
    return guard(() => {
      this.conn.assertOpen();
      const len = this.scratch.encode(key);
      const view = this.conn.view;
      view.sync();
      const found = view.locate(DEFAULT_NAMESPACE, this.scratch.bytes, 0, len);
      return Promise.resolve(found && (view.expiresAt === 0 || view.expiresAt > Date.now()));
    });
  }

  /** Resolves true when the key existed. */
  remove(key: Key): Promise<boolean> {
    return guard(() => {
      this.conn.assertOpen();
      const keyLen = keyByteLength(key);
      return this.conn.batcher.write(RecordKind.TOMBSTONE, DEFAULT_NAMESPACE, key, keyLen, null, 0);
    });
  }

  len(): Promise<number> {
    return guard(() => {
      this.conn.assertOpen();
      return Promise.resolve(this.conn.view.stat(Ctl64.LIVE_KEYS));
    });
  }

  async isEmpty(): Promise<boolean> {
    return (await this.len()) === 0;
  }

  clear(): Promise<void> {
    return guard(async () => {
      this.conn.assertOpen();
      await this.conn.batcher.write(RecordKind.CLEAR, DEFAULT_NAMESPACE, null, 0, null, 0);
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
      this.conn.assertOpen();
      if (entries === null || typeof entries !== 'object' || (!(Symbol.iterator in entries) && !(Symbol.asyncIterator in entries))) {
        throw new EmdbError(ErrorCode.INVALID_CONFIG, 'insertMany takes an iterable of [key, value] pairs');
      }
      // Anything queued by earlier calls goes first, so call order is write order.
      this.conn.batcher.send();
      const codec = this.conn.options.codec;
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
        records.append(RecordKind.PUT, DEFAULT_NAMESPACE, key, keyLen, encoded, 0);
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
   * Runs `fn` with a transaction that buffers its writes; when `fn` resolves they
   * commit as one crash-atomic batch, when it throws nothing is written and the
   * error propagates. Transactions are serialised (one runs at a time); plain
   * writes made outside a transaction are not blocked and are not isolated from
   * a running transaction's reads.
   */
  transaction<T>(fn: (tx: Transaction<V>) => Promise<T> | T): Promise<T> {
    return guard(() => {
      this.conn.assertOpen();
      if (typeof fn !== 'function') throw new EmdbError(ErrorCode.INVALID_CONFIG, 'transaction takes a function');
      const run = async (): Promise<T> => {
        this.conn.assertOpen();
        const tx = new Transaction<V>(this.conn, (key, keyLen) => this._get(key, keyLen));
        let result: T;
        try {
          result = await fn(tx);
        } catch (err) {
          tx.discard();
          throw err;
        }
        await tx.commit();
        return result;
      };
      const next = this.txQueue.then(run, run);
      this.txQueue = next.catch(() => undefined);
      return next;
    });
  }

  /** Makes every acknowledged write durable, per the flush policy. */
  flush(): Promise<void> {
    return guard(async () => {
      this.conn.assertOpen();
      this.conn.batcher.send();
      await this.conn.client.request({ t: 'flush' });
    });
  }

  /** Flush, then persist the tail hint so the next open knows where valid data ends. */
  checkpoint(): Promise<void> {
    return guard(async () => {
      this.conn.assertOpen();
      this.conn.batcher.send();
      await this.conn.client.request({ t: 'checkpoint' });
    });
  }

  stats(): Promise<Stats> {
    return guard(async () => {
      this.conn.assertOpen();
      this.conn.batcher.send();
      const done = await this.conn.client.request({ t: 'stats' });
      return { ...done.stats!, readers: this.conn.pool.threads };
    });
  }

  close(): Promise<void> {
    return this.conn.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Runs `fn`, turning a synchronous throw into a rejected promise. */
function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (err) {
    return Promise.reject(err);
  }
}
