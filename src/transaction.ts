import { RecordBuffer } from './core/record-buffer.js';
import type { DbConnection } from './core/types.js';
import type { ValueCodec } from './encodings.js';
import { EmdbError, ErrorCode } from './errors.js';
import { RecordKind } from './format/constants.js';
import { guard } from './guard.js';
import { keyByteLength, type Key } from './keys.js';
import { Ttl, type TtlArg } from './ttl.js';

interface PendingWrite {
  ns: number;
  key: Key;
  keyLen: number;
  /** Encoded value, or null for a removal. */
  value: string | Uint8Array | null;
  /** Deadline in epoch ms, 0 = none (fixed when staged). */
  expiresAt: number;
}

/** How a transaction reaches one key space: its id, its codec and a committed-state read. */
export interface TxTarget<V> {
  ns: number;
  codec: ValueCodec;
  read(key: Key, keyLen: number): Promise<V | undefined>;
  /** The deadline a write staged now gets for `ttl` (validates it). */
  deadline(ttl: unknown): number;
  /** The database clock, to hide the transaction's own writes once their deadline passed. */
  now(): number;
  /** Whether the key is live in the committed state, probed on this thread (no message, nothing to fail later). */
  has(key: Key): boolean;
}

/**
 * The operations a transaction offers on one key space (the default one, or a
 * namespace from `tx.namespace(name)`). Writes are staged in the transaction.
 */
export class TxKeySpace<V = unknown> {
  /** @internal */
  constructor(
    protected readonly tx: TxState,
    protected readonly target: TxTarget<V>,
  ) {}

  insert(key: Key, value: V | string | Uint8Array): void {
    this.tx.assertActive();
    const keyLen = keyByteLength(key);
    const expiresAt = this.target.deadline(Ttl.Default);
    this.tx.stage(this.target.ns, key, keyLen, this.target.codec.encode(value), expiresAt);
  }

  /** Stages an insert with a TTL (ms, Ttl.Default or Ttl.Never); the deadline is fixed now, not at commit. */
  insertWithTtl(key: Key, value: V | string | Uint8Array, ttl: TtlArg): void {
    this.tx.assertActive();
    const keyLen = keyByteLength(key);
    const expiresAt = this.target.deadline(ttl);
    this.tx.stage(this.target.ns, key, keyLen, this.target.codec.encode(value), expiresAt);
  }

  /**
   * Stages the removal at once (awaited or not, it is in the commit) and
   * resolves true when the key existed as this transaction saw it just before
   * (its own writes first; an expired one does not exist).
   */
  remove(key: Key): Promise<boolean> {
    return guard(() => {
      this.tx.assertActive();
      const keyLen = keyByteLength(key);
      // What the key was before this removal, taken synchronously with it: no
      // read left in flight that could fail after the commit (an unawaited
      // remove() would then reject unhandled, e.g. across close()).
      const before = this.tx.staged(this.target.ns, key);
      const existed = before ? before.value !== null && !(before.expiresAt !== 0 && before.expiresAt <= this.target.now()) : this.target.has(key);
      this.tx.stage(this.target.ns, key, keyLen, null, 0);
      return Promise.resolve(existed);
    });
  }

  /** Reads this transaction's own writes, falling back to the database. */
  get(key: Key): Promise<V | undefined> {
    return guard(() => {
      this.tx.assertActive();
      return this.lookup(key, keyByteLength(key));
    });
  }

  private lookup(key: Key, keyLen: number): Promise<V | undefined> {
    const staged = this.tx.staged(this.target.ns, key);
    if (!staged) return this.target.read(key, keyLen);
    if (staged.value === null) return Promise.resolve(undefined);
    if (staged.expiresAt !== 0 && staged.expiresAt <= this.target.now()) return Promise.resolve(undefined);
    const bytes = typeof staged.value === 'string' ? Buffer.from(staged.value, 'utf8') : staged.value;
    return Promise.resolve(this.target.codec.decode(bytes, 0, bytes.length) as V);
  }
}

/** Staged writes of one transaction, across key spaces, in last-write order. */
class TxState {
  private readonly writes = new Map<string, PendingWrite>();
  finished = false;

  assertActive(): void {
    if (this.finished) throw new EmdbError(ErrorCode.TRANSACTION_ABORTED, 'transaction already finished');
  }

  staged(ns: number, key: Key): PendingWrite | undefined {
    return this.writes.get(identity(ns, key));
  }

  stage(ns: number, key: Key, keyLen: number, value: string | Uint8Array | null, expiresAt: number): void {
    const id = identity(ns, key);
    // Re-staging moves the key to the end, so the batch keeps last-write order.
    this.writes.delete(id);
    this.writes.set(id, { ns, key: typeof key === 'string' ? key : Uint8Array.from(key), keyLen, value: value instanceof Uint8Array ? Uint8Array.from(value) : value, expiresAt });
  }

  all(): IterableIterator<PendingWrite> {
    return this.writes.values();
  }

  get size(): number {
    return this.writes.size;
  }

  clear(): void {
    this.writes.clear();
  }
}

/**
 * Buffers a transaction's writes in memory; nothing reaches the writer until the
 * callback resolves. The commit is one TX_BEGIN … TX_COMMIT batch, which recovery
 * applies whole or not at all (docs/FORMAT.md, "Transactions"), across namespaces.
 */
export class Transaction<V = unknown> extends TxKeySpace<V> {
  /** @internal */
  constructor(
    private readonly conn: DbConnection,
    target: TxTarget<V>,
    private readonly resolveNamespace: (name: string) => Promise<TxTarget<unknown>>,
  ) {
    super(new TxState(), target);
  }

  /**
   * The namespace `name` inside this transaction: its writes commit (or vanish)
   * with the rest. A missing namespace is created at once, outside the transaction.
   */
  async namespace<N = V>(name: string): Promise<TxKeySpace<N>> {
    this.tx.assertActive();
    return new TxKeySpace<N>(this.tx, (await this.resolveNamespace(name)) as TxTarget<N>);
  }

  /** Abandons the transaction: nothing is written and the transaction rejects with this error. */
  abort(reason = 'transaction aborted'): never {
    throw new EmdbError(ErrorCode.TRANSACTION_ABORTED, reason);
  }

  /** @internal Writes the staged batch atomically; an empty transaction writes nothing. */
  async commit(): Promise<void> {
    this.tx.finished = true;
    if (this.tx.size === 0) return;
    const records = new RecordBuffer();
    const namespaces = new Set<number>();
    records.beginTx();
    for (const w of this.tx.all()) {
      records.append(w.value === null ? RecordKind.TOMBSTONE : RecordKind.PUT, w.ns, w.key, w.keyLen, w.value, w.expiresAt);
      if (w.ns !== 0) namespaces.add(w.ns);
    }
    records.commitTx();
    const { payload, bytes, count } = records.take();
    // The writer refuses the whole commit if one of these was dropped meanwhile (ERR_EMDB_CLOSED).
    const liveNs = namespaces.size > 0 ? { liveNs: [...namespaces] } : {};
    await this.conn.link.call({ t: 'write', count, bytes, existed: false, ...liveNs }, payload);
  }

  /** @internal */
  discard(): void {
    this.tx.finished = true;
    this.tx.clear();
  }
}

/** Map key for a user key: strings and byte arrays with the same bytes are the same key. */
function identity(ns: number, key: Key): string {
  const bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  return `${ns}:${bytes.toString('latin1')}`;
}
