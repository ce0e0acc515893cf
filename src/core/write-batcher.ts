import { RecordKind, type RecordKindValue } from '../format/constants.js';
import type { Key } from '../keys.js';
import { RecordBuffer } from './record-buffer.js';
import type { RequestClient } from './types.js';
import type { Done } from './writer-client.js';

/** Past this many bytes a batch is sent at once instead of at the end of the tick. */
const EAGER_SEND_BYTES = 1 << 20;

interface Batch {
  promise: Promise<Done>;
  /** One shared void promise per batch for insert(), resolved to undefined. */
  settled: Promise<void>;
}

/**
 * Coalesces every write made in one tick into one message to the writer: N
 * concurrent insert() calls cost one postMessage, one pwrite and one reply.
 * Order is preserved: batches are sent in call order on one port.
 */
export class WriteBatcher {
  private records = new RecordBuffer();
  private current: (Batch & { resolve(d: Done): void; reject(e: unknown): void }) | undefined;

  constructor(private readonly client: RequestClient) {}

  /** Queues a record; resolves with the key's prior existence once applied. */
  write(kind: RecordKindValue, namespace: number, key: Key | null, keyLen: number, value: string | Uint8Array | null, expiresAt: number): Promise<boolean> {
    const batch = this.batch();
    const at = this.records.append(kind, namespace, key, keyLen, value, expiresAt);
    if (this.records.len >= EAGER_SEND_BYTES) this.send();
    return batch.promise.then((done) => done.existed?.[at] === 1);
  }

  /** Same as write() for callers that do not need the result (insert). */
  put(namespace: number, key: Key, keyLen: number, value: string | Uint8Array, expiresAt: number): Promise<void> {
    const batch = this.batch();
    this.records.append(RecordKind.PUT, namespace, key, keyLen, value, expiresAt);
    if (this.records.len >= EAGER_SEND_BYTES) this.send();
    return batch.settled;
  }

  /** Sends what is queued now (used before flush/close so ordering holds). */
  send(): void {
    this.dispatch(false);
  }

  /**
   * Sends what is queued with a flush attached: one message and one reply make
   * the batch applied and durable. The writes resolve when they are applied (the
   * reply); the returned promise settles with the sync's outcome. Undefined when
   * nothing is queued (the caller sends a plain flush).
   */
  sendDurable(): Promise<void> | undefined {
    const sent = this.dispatch(true);
    return sent?.then((done) => {
      if (done.syncError) throw done.syncError;
    });
  }

  private dispatch(flush: boolean): Promise<Done> | undefined {
    const batch = this.current;
    if (!batch) return undefined;
    this.current = undefined;
    const { payload, bytes, count } = this.records.take();
    const sent = this.client.request(flush ? { t: 'write', count, bytes, existed: true, flush } : { t: 'write', count, bytes, existed: true }, payload);
    sent.then(batch.resolve, batch.reject);
    return sent;
  }

  private batch(): Batch {
    if (this.current) return this.current;
    let resolve!: (d: Done) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<Done>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.current = { promise, settled: promise.then(() => undefined), resolve, reject };
    queueMicrotask(() => this.send());
    return this.current;
  }
}
