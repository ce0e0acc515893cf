import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  AbstractLevel,
  AbstractSnapshot,
  type AbstractBatchOperation,
  type AbstractBatchOptions,
  type AbstractChainedBatch,
  type AbstractDatabaseOptions,
  type AbstractDelOptions,
  type AbstractOpenOptions,
  type AbstractPutOptions,
} from 'abstract-level';
import { Emdb } from '../db.js';
import { EmdbError, ErrorCode } from '../errors.js';
import { captureSnapshot, type RangeSnapshot } from '../range/snapshot.js';
import { checkSnapshot, snapshotGet, SnapshotCursor, type LevelRange } from './cursor.js';
import { EmdbIterator, type PrivateIteratorOptions } from './iterator.js';
import { levelValue, storedKey, storedKeyBytes } from './keys.js';
import { checkEngineValues, checkOptionNames, engineOptions, type ClassicLevelOptions, type EmdbLevelEngineOptions } from './options.js';

/** The file inside the Level location directory that holds the database. */
export const LEVEL_DATA_FILE = 'data.emdb';

/**
 * The constructor's options: abstract-level's (encodings, and open()'s
 * createIfMissing, errorIfExists, passive), the emdb-js options that pass
 * through, and classic-level's tuning options (accepted, see ClassicLevelOptions).
 * Any other name is refused with ERR_EMDB_INVALID_CONFIG: thrown by the
 * constructor, or, given to open(), failing the open (LEVEL_DATABASE_NOT_OPEN
 * with the EmdbError as cause).
 */
export type EmdbLevelOptions<K, V> = AbstractDatabaseOptions<K, V> & AbstractOpenOptions & EmdbLevelEngineOptions & ClassicLevelOptions;
/** What db.open() takes: abstract-level's open options and the same engine and classic-level options. */
export type EmdbLevelOpenOptions = AbstractOpenOptions & EmdbLevelEngineOptions & ClassicLevelOptions;

/** What the adapter declares (level-supports' typings lack getSync and has). */
const MANIFEST = {
  encodings: { buffer: true, utf8: true },
  createIfMissing: true,
  errorIfExists: true,
  implicitSnapshots: true,
  explicitSnapshots: true,
  seek: true,
  getSync: true,
  has: true,
  permanence: true,
};

/** What abstract-level passes _open(): the constructor's forwarded options merged with open()'s. */
interface OpenFlags {
  createIfMissing: boolean;
  errorIfExists: boolean;
  [option: string]: unknown;
}
interface Formats {
  keyEncoding: string;
  valueEncoding?: string;
  snapshot?: EmdbSnapshot | null;
}
interface Op extends Formats {
  type: 'put' | 'del';
  key: string | Uint8Array;
  value?: string | Uint8Array;
}

/** abstract-level's typings declare no constructor; the class takes `{ owner }` (the database). */
const SnapshotBase = AbstractSnapshot as unknown as new (options: object) => AbstractSnapshot;

/**
 * db.snapshot(): an emdb-js range snapshot taken at the call (the sorted index
 * and mirror as then published). It pins buffers the way a range iterator
 * does (docs/DESIGN.md, "Range scans"); close() lets them go.
 */
export class EmdbSnapshot extends SnapshotBase {
  constructor(
    readonly rangeSnapshot: RangeSnapshot,
    options: object,
  ) {
    super(options);
  }
}

/** `sync: true`: the write is durable (flushed) when the promise resolves, as in classic-level. */
export interface EmdbWriteOptions {
  sync?: boolean;
}

/**
 * put / del / batch with `sync` in their options, and open() with the
 * adapter's options (abstract-level's typings list neither; a chained batch's
 * write() takes any options). Redeclaring a method here hides the base class's
 * signatures of it, so each keeps its others.
 */
export interface EmdbLevel<KDefault, VDefault> {
  open(options?: EmdbLevelOpenOptions): Promise<void>;
  put(key: KDefault, value: VDefault): Promise<void>;
  put<K = KDefault, V = VDefault>(key: K, value: V, options: AbstractPutOptions<K, V> & EmdbWriteOptions): Promise<void>;
  del(key: KDefault): Promise<void>;
  del<K = KDefault>(key: K, options: AbstractDelOptions<K> & EmdbWriteOptions): Promise<void>;
  batch(operations: AbstractBatchOperation<this, KDefault, VDefault>[]): Promise<void>;
  batch<K = KDefault, V = VDefault>(operations: AbstractBatchOperation<this, K, V>[], options: AbstractBatchOptions<K, V> & EmdbWriteOptions): Promise<void>;
  batch(): AbstractChainedBatch<this, KDefault, VDefault>;
}

/**
 * An abstract-level 3 database on top of emdb-js, opened with `rangeScans: true`.
 * `location` is a directory (like classic-level); the database is one file in it.
 */
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class EmdbLevel<KDefault = string, VDefault = string> extends AbstractLevel<Buffer | Uint8Array | string, KDefault, VDefault> {
  readonly location: string;
  private emdb: Emdb<Buffer> | undefined;

  constructor(location: string, options: EmdbLevelOptions<KDefault, VDefault> = {}) {
    // Checked before abstract-level queues the open: a refused database starts nothing,
    // and the error is thrown here, where a deferred open's would reach queued
    // operations as a bare LEVEL_DATABASE_NOT_OPEN. Names a postopen hook may be
    // waiting for are left to _open (no hook can be added before this returns).
    checkOptionNames(options, false);
    super(MANIFEST, options);
    if (typeof location !== 'string' || location === '') {
      throw new EmdbError(ErrorCode.INVALID_CONFIG, 'EmdbLevel needs a location (a directory path)');
    }
    checkEngineValues(options, join(location, LEVEL_DATA_FILE));
    this.location = location;
  }

  /** The emdb-js database underneath (open databases only): stats(), compact(), backupTo(), flush(). */
  get engine(): Emdb<Buffer> {
    if (!this.emdb) throw new EmdbError(ErrorCode.CLOSED, 'the Level database is not open');
    return this.emdb;
  }

  async _open(options: OpenFlags): Promise<void> {
    // Checked again with open()'s options, knowing whether a postopen hook may read
    // names of its own: an open failure reaches Level users as LEVEL_DATABASE_NOT_OPEN
    // with the EmdbError as cause, before anything is created.
    const engine = engineOptions(options, postopenHooked(this.hooks.postopen));
    const file = join(this.location, LEVEL_DATA_FILE);
    // Values too (readers: 0, a misspelled flushPolicy field), before the directory is made.
    checkEngineValues(engine, file);
    const exists = await stat(file).then(
      () => true,
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return false;
        throw new EmdbError(ErrorCode.IO, `cannot stat ${file}: ${err.message}`, { cause: err });
      },
    );
    if (exists && options.errorIfExists) throw new EmdbError(ErrorCode.INVALID_CONFIG, `${this.location} exists (errorIfExists is true)`);
    if (!exists) {
      if (!options.createIfMissing) throw new EmdbError(ErrorCode.INVALID_CONFIG, `${this.location} does not exist (createIfMissing is false)`);
      await mkdir(this.location, { recursive: true });
    }
    this.emdb = await Emdb.open<Buffer>(file, engine);
  }

  async _close(): Promise<void> {
    const db = this.emdb;
    this.emdb = undefined;
    if (db) await db.close();
  }

  async _get(key: string | Uint8Array, options: Formats): Promise<Buffer | string | undefined> {
    return this._getSync(key, options);
  }

  /** Probes the shared index on this thread (or reads the explicit snapshot): no message to a worker. */
  _getSync(key: string | Uint8Array, options: Formats): Buffer | string | undefined {
    const db = this.engine;
    const snap = this.readSnapshot(options, 1);
    const raw = snap ? snapshotGet(snap, db.rangeHost().ns, storedKeyBytes(key), true) : db.getSync(storedKey(key));
    return raw === undefined ? undefined : levelValue(raw, options.valueEncoding ?? 'buffer');
  }

  async _getMany(keys: (string | Uint8Array)[], options: Formats): Promise<(Buffer | string | undefined)[]> {
    // One snapshot for every key, so a concurrent writer cannot split the answer.
    const snap = this.readSnapshot(options, keys.length);
    const format = options.valueEncoding ?? 'buffer';
    if (!snap) return keys.map((k) => this._getSync(k, options));
    const ns = this.engine.rangeHost().ns;
    return keys.map((k) => {
      const raw = snapshotGet(snap, ns, storedKeyBytes(k), true);
      return raw === undefined ? undefined : levelValue(raw, format);
    });
  }

  async _has(key: string | Uint8Array, options: Formats): Promise<boolean> {
    const snap = this.readSnapshot(options, 1);
    if (snap) return snapshotGet(snap, this.engine.rangeHost().ns, storedKeyBytes(key), false) !== undefined;
    return this.engine.contains(storedKey(key));
  }

  async _hasMany(keys: (string | Uint8Array)[], options: Formats): Promise<boolean[]> {
    const snap = this.readSnapshot(options, keys.length);
    if (!snap) return Promise.all(keys.map((k) => this._has(k, options)));
    const ns = this.engine.rangeHost().ns;
    return keys.map((k) => snapshotGet(snap, ns, storedKeyBytes(k), false) !== undefined);
  }

  /** The explicit snapshot (within rangeSnapshotLimit), or a fresh one when several keys must be read consistently. */
  private readSnapshot(options: Formats, count: number): RangeSnapshot | undefined {
    const explicit = options.snapshot?.rangeSnapshot;
    if (explicit) checkSnapshot(this.engine.rangeHost().view, explicit);
    if (explicit || count <= 1) return explicit;
    return captureSnapshot(this.engine.rangeHost().view);
  }

  // The engine's promise is returned as is (no extra async frame per write); an
  // engine that is gone throws synchronously here, which abstract-level turns into a rejection.
  _put(key: string | Uint8Array, value: string | Uint8Array, options: { sync?: boolean }): Promise<void> {
    const db = this.engine;
    const done = db.insert(storedKey(key), value);
    return options.sync === true ? done.then(() => db.flush()) : done;
  }

  _del(key: string | Uint8Array, options: { sync?: boolean }): Promise<void> {
    const db = this.engine;
    const done = db.remove(storedKey(key)).then(() => undefined);
    return options.sync === true ? done.then(() => db.flush()) : done;
  }

  /** One crash-atomic writer batch (a log transaction); `sync: true` flushes it. */
  async _batch(operations: Op[], options: { sync?: boolean }): Promise<void> {
    const db = this.engine;
    await db._writeBatch(operations.map((op) => [storedKey(op.key), op.type === 'put' ? (op.value ?? '') : null] as const));
    if (options.sync === true) await db.flush();
  }

  _iterator(options: PrivateIteratorOptions): EmdbIterator {
    const host = this.engine.rangeHost();
    return new EmdbIterator(this, host, options);
  }

  _snapshot(options: object): EmdbSnapshot {
    return new EmdbSnapshot(captureSnapshot(this.engine.rangeHost().view), options);
  }

  /**
   * Everything: one CLEAR record. A range (or a limit): the keys of a snapshot
   * taken now, removed in atomic batches, so writes made after the call survive.
   */
  async _clear(options: LevelRange & { reverse: boolean; limit: number; snapshot?: EmdbSnapshot | null }): Promise<void> {
    const db = this.engine;
    const ranged = options.gt !== undefined || options.gte !== undefined || options.lt !== undefined || options.lte !== undefined;
    if (!ranged && options.limit === -1 && !options.snapshot) {
      await db.clear();
      return;
    }
    const host = db.rangeHost();
    const snap = options.snapshot?.rangeSnapshot ?? captureSnapshot(host.view);
    const cursor = new SnapshotCursor(host.view, snap, host.ns, options, options.reverse, { keys: 'stored', values: null });
    let left = options.limit === -1 ? Infinity : options.limit;
    while (left > 0) {
      const keys = cursor.nextv(Math.min(left, CLEAR_BATCH));
      if (keys.length === 0) break;
      left -= keys.length;
      await db._writeBatch(keys.map(([k]) => [k as Buffer, null] as const));
    }
  }
}

/**
 * Whether a postopen hook function is registered: abstract-level's hooks keep
 * `noop` (true while empty) for exactly that test, but its typings omit it.
 * Without the property (another abstract-level) a hook is assumed, which only
 * lets names far from every known option through.
 */
function postopenHooked(hook: object): boolean {
  return (hook as { noop?: unknown }).noop !== true;
}

/** Keys removed per atomic batch by a ranged clear(). */
const CLEAR_BATCH = 4096;
