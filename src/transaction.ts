import { RecordBuffer } from './core/record-buffer.js';
import type { DbConnection } from './core/types.js';
import { EmdbError, ErrorCode } from './errors.js';
import { RecordKind } from './format/constants.js';
import { keyByteLength, type Key } from './keys.js';

interface PendingWrite {
  key: Key;
  keyLen: number;
  /** Encoded value, or null for a removal. */
  value: string | Uint8Array | null;
}

/**
 * Buffers a transaction's writes in memory; nothing reaches the writer until the
 * callback resolves. The commit is one TX_BEGIN … TX_COMMIT batch, which recovery
 * applies whole or not at all (docs/FORMAT.md, "Transactions").
 */
export class Transaction<V = unknown> {
  private readonly writes = new Map<string, PendingWrite>();
  private finished = false;

  constructor(
    private readonly conn: DbConnection,
    private readonly read: (key: Key, keyLen: number) => Promise<V | undefined>,
  ) {}

  insert(key: Key, value: V | string | Uint8Array): void {
    this.assertActive();
    const keyLen = keyByteLength(key);
    const encoded = this.conn.options.codec.encode(value);
    this.stage(key, keyLen, encoded);
  }

  /** Resolves true when the key exists as this transaction sees it (its own writes first). */
  async remove(key: Key): Promise<boolean> {
    this.assertActive();
    const keyLen = keyByteLength(key);
    const existed = (await this.lookup(key, keyLen)) !== undefined;
    this.stage(key, keyLen, null);
    return existed;
  }

  /** Reads this transaction's own writes, falling back to the database. */
  get(key: Key): Promise<V | undefined> {
    try {
      this.assertActive();
      return this.lookup(key, keyByteLength(key));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Abandons the transaction: nothing is written and the transaction rejects with this error. */
  abort(reason = 'transaction aborted'): never {
    throw new EmdbError(ErrorCode.TRANSACTION_ABORTED, reason);
  }

  private lookup(key: Key, keyLen: number): Promise<V | undefined> {
    const staged = this.writes.get(identity(key));
    if (!staged) return this.read(key, keyLen);
    if (staged.value === null) return Promise.resolve(undefined);
    const bytes = typeof staged.value === 'string' ? Buffer.from(staged.value, 'utf8') : staged.value;
    return Promise.resolve(this.conn.options.codec.decode(bytes, 0, bytes.length) as V);
  }

  private stage(key: Key, keyLen: number, value: string | Uint8Array | null): void {
    const id = identity(key);
    // Re-inserting moves the key to the end, so the batch keeps last-write order.
    this.writes.delete(id);
    this.writes.set(id, { key: typeof key === 'string' ? key : Uint8Array.from(key), keyLen, value: copyValue(value) });
  }

  private assertActive(): void {
    if (this.finished) throw new EmdbError(ErrorCode.TRANSACTION_ABORTED, 'transaction already finished');
  }

  /** Writes the staged batch atomically; an empty transaction writes nothing. */
  async commit(): Promise<void> {
    this.finished = true;
    if (this.writes.size === 0) return;
    const records = new RecordBuffer();
    records.beginTx();
    for (const w of this.writes.values()) {
      records.append(w.value === null ? RecordKind.TOMBSTONE : RecordKind.PUT, 0, w.key, w.keyLen, w.value, 0);
    }
    records.commitTx();
    this.conn.batcher.send();
    const { payload, bytes, count } = records.take();
    await this.conn.client.request({ t: 'write', count, bytes, existed: false }, payload);
  }

  discard(): void {
    this.finished = true;
    this.writes.clear();
  }
}

/** Map key for a user key: strings and byte arrays with the same bytes are the same key. */
function identity(key: Key): string {
  return typeof key === 'string' ? Buffer.from(key, 'utf8').toString('latin1') : Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}

/** The caller may reuse its buffer after insert() returns; the transaction keeps its own copy. */
function copyValue(value: string | Uint8Array | null): string | Uint8Array | null {
  return value instanceof Uint8Array ? Uint8Array.from(value) : value;
}
