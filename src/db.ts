import { AttachedConnection, isHandle } from './core/attached.js';
import { Connection } from './core/connection.js';
import type { DbConnection } from './core/types.js';
import { codecFor, VALUE_ENCODINGS, type ValueEncoding } from './encodings.js';
import { EmdbError, ErrorCode } from './errors.js';
import { guard } from './guard.js';
import { KeySpace } from './keyspace.js';
import { isWellFormed } from './keys.js';
import { assertNotOpen, breakLock, lockHolder, type LockInfo } from './lock.js';
import { openArguments, resolveOptions, type EncryptionOptions, type OpenOptions } from './options.js';
import { rewriteRequest, type EncryptionAdminOptions, type RewriteRequest } from './admin-crypt.js';
import { refuseUnknownOptions } from './option-names.js';
import { resolveBackupTarget, resolveDatabasePath } from './paths.js';
import type { CompactOptions, CompactReport, EmdbHandle, EncodingOfTypeArgument, Stats, ValueOfTypeArgument } from './types.js';
import { Transaction } from './transaction.js';
import { checkDefaultTtl } from './ttl.js';
import { insideTransaction, runAsTransaction } from './tx-scope.js';

export type { Stats };

const MAX_NAMESPACE_NAME_BYTES = 255;

export interface NamespaceOptions<E extends ValueEncoding = ValueEncoding> {
  /** Overrides the database's valueEncoding for this namespace (its value type follows: ValueOfEncoding). */
  valueEncoding?: E;
  /**
   * ms: the TTL plain inserts and Ttl.Default get in this namespace (overrides
   * the database's defaultTtl for this handle; not persisted, like the database's).
   */
  defaultTtl?: number;
}

/**
 * A named key space inside one database: the same operations as Emdb, its own
 * keys. Namespaces share the one shared index (keyed by namespace id and key), so
 * many small namespaces cost nothing per namespace. Persisted in the log's catalogue.
 */
export class Namespace<V = unknown> extends KeySpace<V> {
  private droppedHere = false;
  /** @internal The value encoding the namespace recorded at creation (undefined: none recorded); the command line dumps it. */
  recordedEncoding: ValueEncoding | undefined;

  /** @internal */
  constructor(
    conn: DbConnection,
    id: number,
    readonly name: string,
    encoding: ValueEncoding,
    defaultTtl: number | undefined,
  ) {
    super(conn, id, codecFor(encoding), defaultTtl);
  }

  /**
   * True once the namespace was dropped, by this thread or any other: every
   * call then rejects with ERR_EMDB_CLOSED (a namespace created again under
   * the same name is a new one: `db.namespace(name)` returns it).
   */
  get dropped(): boolean {
    return this.droppedHere || this.conn.view.namespaceDropped(this.ns);
  }

  /** @internal dropNamespace on this thread. */
  markDropped(): void {
    this.droppedHere = true;
  }

  protected override assertLive(): void {
    super.assertLive();
    if (this.dropped) throw new EmdbError(ErrorCode.CLOSED, `namespace ${JSON.stringify(this.name)} was dropped`);
  }
}

/**
 * An open emdb-js database; its own key operations act on the default namespace.
 */
export class Emdb<V = unknown> extends KeySpace<V> {
  /** Transactions run one at a time: each waits for the previous commit or abort. */
  private txQueue: Promise<unknown> = Promise.resolve();
  /** Resolved by close(): transactions still queued then stop waiting and reject with ERR_EMDB_CLOSED. */
  private readonly closeCalled: Promise<void>;
  private signalClose!: () => void;
  private readonly openNamespaces = new Map<string, Namespace<unknown>>();
  /** dropNamespace calls per name: a namespace() reply that comes back after a drop was asked for caches nothing. */
  private readonly dropsRequested = new Map<string, number>();

  private constructor(conn: DbConnection) {
    super(conn, 0, conn.options.codec, conn.options.defaultTtl);
    this.closeCalled = new Promise<void>((resolve) => (this.signalClose = resolve));
  }

  /**
   * Opens (creating if needed) the database at `path`, or where `options` say;
   * `Emdb.open()` with no argument opens the default database of the platform
   * data directory. An explicit `undefined` or `null` is refused: it is almost
   * always a variable that was meant to hold a path.
   *
   * The value type follows `valueEncoding` (ValueOfEncoding: `Buffer` by
   * default, `string` for `'utf8'`, `any` for `'json'` and `'msgpack'`);
   * naming it, `Emdb.open<Session>(path, { valueEncoding: 'json' })`, overrides
   * that (`T` is an encoding's name or a value type: ValueOfTypeArgument).
   */
  static open<T = 'binary'>(): Promise<Emdb<ValueOfTypeArgument<T>>>;
  static open<T = 'binary'>(path: string, options?: OpenOptions<EncodingOfTypeArgument<T>>): Promise<Emdb<ValueOfTypeArgument<T>>>;
  static open<T = 'binary'>(options: OpenOptions<EncodingOfTypeArgument<T>>): Promise<Emdb<ValueOfTypeArgument<T>>>;
  static open<T>(...args: unknown[]): Promise<Emdb<ValueOfTypeArgument<T>>> {
    return guard(async () => new Emdb<ValueOfTypeArgument<T>>(await Connection.open(resolveOptions(openArguments(args), false))));
  }

  /** A database in shared memory only, gone at close(); its value type follows `valueEncoding` as in open(). */
  static openInMemory<T = 'binary'>(options: OpenOptions<EncodingOfTypeArgument<T>> = {}): Promise<Emdb<ValueOfTypeArgument<T>>> {
    return guard(async () => new Emdb<ValueOfTypeArgument<T>>(await Connection.open(resolveOptions(options, true))));
  }

  /**
   * Opens, in another worker thread, the database behind `handle` (from
   * `db.handle()`): reads probe the same shared index on that thread (getSync
   * works there) and writes go to the same writer. Closing an attached database
   * detaches it; closing the original makes attached ones fail with ERR_EMDB_CLOSED.
   *
   * The handle carries the opener's `valueEncoding` at run time only (it
   * arrives through `workerData` or a message, untyped): name the value type
   * for a database not opened `'binary'`, `Emdb.attach<string>(handle)`.
   */
  static attach<V = Buffer>(handle: EmdbHandle): Promise<Emdb<V>> {
    return guard(async () => {
      if (!isHandle(handle)) throw new EmdbError(ErrorCode.INVALID_CONFIG, 'Emdb.attach takes a handle from db.handle()');
      return new Emdb<V>(await AttachedConnection.attach(handle));
    });
  }

  /**
   * A structured-cloneable descriptor to pass to a Worker (postMessage / workerData) for Emdb.attach().
   * It grants full access to the database's shared memory, which holds plaintext even when the
   * database is encrypted. An encrypted database read through the page cache (`cacheSize`, or the
   * default cache of a large log) also puts each log generation's record key in it, since every
   * reading thread decrypts what it reads from the file: treat the handle of an encrypted database
   * as a secret, as you would its key.
   */
  handle(): EmdbHandle {
    return this.conn.handle();
  }

  /**
   * Who holds the database's lock ({ pid, hostname, startedAt, stale,
   * checkable, detail }), or undefined. `stale`: the holder is provably gone,
   * and the next open (or breakLock) removes its lock; `checkable: false`: it
   * cannot be checked from here (another host or PID namespace). Offline admin.
   */
  static lockHolder(path: string): Promise<LockInfo | undefined> {
    return guard(() => lockHolder(resolveDatabasePath({ path: adminPath(path, 'lockHolder') })));
  }

  /**
   * Removes a lock whose holder is provably gone; a live holder's lock is
   * refused with ERR_EMDB_LOCKED, and so is one whose holder cannot be checked
   * from here (another host, another PID namespace: `lockHolder` says
   * `checkable: false`) unless `{ force: true }`. Force only when you are sure
   * that holder is gone: two writers on one file corrupt it.
   */
  static breakLock(path: string, options?: { force?: boolean }): Promise<void> {
    return guard(() => {
      const force = options?.force ?? false;
      if (typeof force !== 'boolean') throw new EmdbError(ErrorCode.INVALID_CONFIG, 'breakLock option force must be a boolean');
      return breakLock(resolveDatabasePath({ path: adminPath(path, 'breakLock') }), force);
    });
  }

  /**
   * Encrypts an existing plaintext database in place (offline: an open one is
   * refused with ERR_EMDB_LOCKED): rewrite into a temp file, fsync, one atomic
   * rename, directory fsync. Namespaces, TTLs and value encodings are kept;
   * `{ keepBackup: true }` keeps the old file as `<path>.encbak`, otherwise no
   * copy of it (in particular no plaintext copy) is left.
   */
  static enableEncryption(path: string, encryption: EncryptionOptions, opts?: EncryptionAdminOptions): Promise<void> {
    return guard(async () => Emdb.rewrite(rewriteRequest(path, undefined, encryption, opts, { to: 'encryption' })));
  }

  /** Decrypts an encrypted database in place (same guarantees as enableEncryption); `encryption` is its current key. */
  static disableEncryption(path: string, encryption: EncryptionOptions, opts?: EncryptionAdminOptions): Promise<void> {
    return guard(async () => Emdb.rewrite(rewriteRequest(path, encryption, undefined, opts, { from: 'encryption' })));
  }

  /**
   * Re-encrypts a database under a new key or passphrase (and, with `to.cipher`,
   * a new cipher; the old one is kept otherwise). A wrong `from` is refused with
   * ERR_EMDB_ENCRYPTION_KEY_MISMATCH and the file is left unchanged.
   */
  static rotateEncryptionKey(path: string, from: EncryptionOptions, to: EncryptionOptions, opts?: EncryptionAdminOptions): Promise<void> {
    return guard(async () => Emdb.rewrite(rewriteRequest(path, from, to, opts, { from: 'from', to: 'to' })));
  }

  private static async rewrite(req: RewriteRequest): Promise<void> {
    const db = await Emdb.open(req.file, { valueEncoding: req.valueEncoding, readers: 1, ...(req.from ? { encryption: req.from } : {}) });
    try {
      await db.conn.link.call({ t: 'reencrypt', keepBackup: req.keepBackup, ...(req.to ? { to: req.to } : {}) });
    } finally {
      await db.close();
    }
  }

  /** The file backing this database, or null in memory. */
  get path(): string | null {
    return this.conn.options.path;
  }

  /**
   * The namespace `name`, created (and persisted) on first use. Its values are
   * the database's type, or with `valueEncoding` that encoding's
   * (ValueOfEncoding); an explicit `db.namespace<T>(name, ...)` overrides both.
   */
  namespace<T = V>(name: string, options: NamespaceOptions<EncodingOfTypeArgument<T>> = {}): Promise<Namespace<ValueOfTypeArgument<T>>> {
    type N = ValueOfTypeArgument<T>;
    return guard(async () => {
      this.conn.assertOpen();
      checkNamespaceName(name);
      if (typeof options !== 'object' || options === null) throw new EmdbError(ErrorCode.INVALID_CONFIG, 'namespace options must be an object');
      refuseUnknownOptions(options, ['valueEncoding', 'defaultTtl'], '', 'namespace option');
      const defaultTtl = checkDefaultTtl(options.defaultTtl, 'namespace defaultTtl') ?? this.conn.options.defaultTtl;
      const raw = this.conn.options.raw;
      // Raw (the command line): stored bytes whatever was recorded; an encoding given is still what a new namespace records.
      const encoding = options.valueEncoding ?? (raw ? undefined : this.conn.options.codec.name);
      if (encoding !== undefined && !VALUE_ENCODINGS.includes(encoding)) throw new EmdbError(ErrorCode.INVALID_CONFIG, `unknown valueEncoding ${String(encoding)}`);
      const codecName = raw ? 'binary' : encoding!;
      const cached = this.openNamespaces.get(name);
      if (cached && !cached.dropped && cached.valueEncoding === codecName && cached.defaultTtl === defaultTtl && !raw) return cached as Namespace<N>;
      const drops = this.dropsRequested.get(name);
      const done = await this.conn.link.call({ t: 'namespace', name, create: true, ...(encoding !== undefined ? { encoding } : {}) });
      const ns = new Namespace<N>(this.conn, done.nsId!, name, codecName, defaultTtl);
      ns.recordedEncoding = done.nsEncoding;
      if (this.dropsRequested.get(name) === drops) this.openNamespaces.set(name, ns as Namespace<unknown>);
      return ns;
    });
  }

  /** Names of every namespace (the default one is not listed). */
  namespaces(): Promise<string[]> {
    return guard(async () => {
      this.conn.assertOpen();
      const done = await this.conn.link.call({ t: 'namespaces' });
      return (done.names ?? []).sort();
    });
  }

  /** Removes a namespace and every key in it. Resolves false when it did not exist. */
  dropNamespace(name: string): Promise<boolean> {
    return guard(async () => {
      this.conn.assertOpen();
      checkNamespaceName(name);
      // Out of the cache before the request leaves: a namespace(name) made after this call asks
      // the writer, behind the drop on this link, and gets the new namespace, not this handle.
      const open = this.openNamespaces.get(name);
      this.openNamespaces.delete(name);
      this.dropsRequested.set(name, (this.dropsRequested.get(name) ?? 0) + 1);
      const done = await this.conn.link.call({ t: 'dropNamespace', name });
      open?.markDropped();
      return done.dropped === true;
    });
  }

  /**
   * Runs `fn` with a transaction that buffers its writes; when `fn` resolves they
   * commit as one crash-atomic batch, when it throws nothing is written and the
   * error propagates. Transactions are serialised (one runs at a time); plain
   * writes made outside a transaction are not blocked and are not isolated from
   * a running transaction's reads. A transaction started from inside another one
   * of this database (its callback, or anything it awaits) is refused with
   * ERR_EMDB_TRANSACTION_ABORTED: it would wait for the outer one forever. Use
   * the outer `tx` instead. Transactions still queued when close() is called,
   * and one whose callback is still running then, reject with ERR_EMDB_CLOSED
   * and commit nothing.
   */
  transaction<T>(fn: (tx: Transaction<V>) => Promise<T> | T): Promise<T> {
    return guard(() => {
      this.conn.assertOpen();
      if (typeof fn !== 'function') throw new EmdbError(ErrorCode.INVALID_CONFIG, 'transaction takes a function');
      if (insideTransaction(this)) {
        throw new EmdbError(
          ErrorCode.TRANSACTION_ABORTED,
          'a transaction cannot start inside another transaction of the same database (it would wait for the outer one forever): use the outer transaction',
        );
      }
      const previous = this.txQueue;
      const next = (async (): Promise<T> => {
        await Promise.race([previous, this.closeCalled]);
        this.conn.assertOpen();
        return this.runTransaction(fn);
      })();
      this.txQueue = next.catch(() => undefined);
      return next;
    });
  }

  private async runTransaction<T>(fn: (tx: Transaction<V>) => Promise<T> | T): Promise<T> {
    // A namespace already open here keeps its own options (its defaultTtl) inside the transaction.
    const resolve = async (name: string) => {
      const open = this.openNamespaces.get(name);
      return (open && !open.dropped ? open : await this.namespace<unknown>(name)).txTarget();
    };
    const tx = new Transaction<V>(this.conn, this.txTarget(), resolve);
    let result: T;
    try {
      // Only the callback runs in the transaction's scope: once it settled nothing
      // can await a transaction it starts, so later ones just queue.
      result = await runAsTransaction(this, async () => fn(tx));
    } catch (err) {
      tx.discard();
      throw err;
    }
    await tx.commit();
    return result;
  }

  /**
   * Makes every write this thread issued before it durable, per the flush
   * policy. Writes still queued in this tick travel with the flush in one
   * message (insert + flush in the same tick cost one round trip to the writer;
   * so do the writes and flushes of many async producers in one tick), and a
   * thread that writes then flushes in turn gets its writes synced with them
   * (core/flush-ahead.ts), so its flush() needs no message at all.
   */
  flush(): Promise<void> {
    return guard(async () => {
      this.conn.assertOpen();
      await this.conn.link.flush();
    });
  }

  /** Flush, then persist the tail hint so the next open knows where valid data ends. */
  checkpoint(): Promise<void> {
    return guard(async () => {
      this.conn.assertOpen();
      await this.conn.link.call({ t: 'checkpoint' });
    });
  }

  /**
   * Rewrites the log with only live records and swaps it in atomically
   * (writer/compaction-job.ts). Reads and writes go on meanwhile: the copy runs
   * in short steps between writes, then a short swap. A log with less than 20 %
   * of its bytes to reclaim is left as it is (the report says `skipped`) unless
   * `force` is set; logs under 4 MiB are always rewritten.
   */
  compact(options: CompactOptions = {}): Promise<CompactReport> {
    return guard(async () => {
      if (options === null || typeof options !== 'object') throw new EmdbError(ErrorCode.INVALID_CONFIG, 'compact() options must be an object');
      refuseUnknownOptions(options, ['force'], '', 'compact() option');
      if (options.force !== undefined && typeof options.force !== 'boolean') throw new EmdbError(ErrorCode.INVALID_CONFIG, 'compact() option force must be a boolean');
      this.conn.assertOpen();
      const done = await this.conn.link.call(options.force ? { t: 'compact', force: true } : { t: 'compact' });
      return done.report!;
    });
  }

  /**
   * Writes a consistent copy of the database as of this call (every write made
   * before it, nothing torn) to `path`, usable with Emdb.open: a temp file next
   * to it, fdatasync, rename, directory fsync, so `path` holds either its
   * previous content or the whole backup. Reads and writes go on meanwhile
   * (writes wait one copy chunk at most). An existing emdb-js database at `path`
   * is replaced, unless it is open (ERR_EMDB_LOCKED); any other existing file,
   * a directory, or the database's own files are refused (ERR_EMDB_INVALID_CONFIG).
   * Works for in-memory databases too.
   */
  backupTo(path: string): Promise<void> {
    return guard(async () => {
      this.conn.assertOpen();
      const target = resolveBackupTarget(path);
      if (target === this.conn.options.path) {
        throw new EmdbError(ErrorCode.INVALID_CONFIG, 'backupTo needs a path other than the database itself');
      }
      assertNotOpen(target);
      // Writes made before this call reach the writer ahead of the backup request (one ordered port),
      // and the request is posted before this call returns, so a close() right after waits for it.
      await this.conn.link.call({ t: 'backup', path: target });
    });
  }

  stats(): Promise<Stats> {
    return guard(async () => {
      this.conn.assertOpen();
      const done = await this.conn.link.call({ t: 'stats' });
      const view = this.conn.view;
      view.publishReads();
      return { ...done.stats!, readers: view.readers(), reads: view.reads() };
    });
  }

  /**
   * Closes the database. Writes issued before it complete (durable per the flush
   * policy); reads, iterators, insertMany chunks not yet sent and queued
   * transactions reject with ERR_EMDB_CLOSED. Idempotent.
   */
  close(): Promise<void> {
    this.signalClose();
    return this.conn.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * The path of lockHolder/breakLock, which name one database: `undefined` (an
 * unset variable, `Emdb.breakLock(process.env.DB_PATH)`) is refused, not taken
 * for the default database as an open with no path is.
 */
function adminPath(path: unknown, what: string): string {
  if (typeof path !== 'string') throw new EmdbError(ErrorCode.INVALID_CONFIG, `${what} takes the database's path (a string), got ${path === null ? 'null' : typeof path}`);
  return path;
}

function checkNamespaceName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new EmdbError(ErrorCode.INVALID_CONFIG, 'a namespace name must be a non-empty string');
  }
  if (!isWellFormed(name)) throw new EmdbError(ErrorCode.INVALID_KEY, 'a namespace name must not contain lone UTF-16 surrogates');
  if (Buffer.byteLength(name, 'utf8') > MAX_NAMESPACE_NAME_BYTES) {
    throw new EmdbError(ErrorCode.INVALID_CONFIG, `a namespace name is at most ${MAX_NAMESPACE_NAME_BYTES} bytes`);
  }
}
