import { RecordKind, type RecordKindValue } from '../format/constants.js';
import type { Key } from '../keys.js';
import type { Done, RequestBody } from '../protocol.js';
import type { FlushAhead } from './flush-ahead.js';
import { RecordBuffer } from './record-buffer.js';

/** Posts a request to the writer as is (the link's, without sending the batch first: this is the batch). */
export type PostRequest = (body: RequestBody, payload?: ArrayBuffer) => Promise<Done>;

/** Past this many bytes a batch is sent at once instead of at the end of the tick. */
const EAGER_SEND_BYTES = 1 << 20;

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * The writes of one batch between two flush() calls. Each segment settles on
 * its own: under onEachFlush a failed sync poisons the engine, so the segments
 * after it are refused while the ones before it were applied.
 */
interface Segment extends Deferred<Done> {
  /**
   * One shared void promise per segment for insert(), resolved to undefined.
   * Made by the first insert() only: a segment of remove() calls alone has no
   * caller for it, and an unobserved copy would reject unhandled on a failed write.
   */
  settled: Promise<void> | undefined;
  /** Byte offset where the segment ends in the batch (set when a flush cuts it). */
  end: number;
  /** The flush() calls that cut the batch here: settle with the sync of this mark. */
  durable: Deferred<void> | undefined;
}

/**
 * Coalesces every write made in one tick into one message to the writer: N
 * concurrent insert() calls cost one postMessage, one pwrite and one reply.
 * A flush() made while writes are queued does not send them at once: it marks
 * the batch there, and the writer makes everything up to the mark durable
 * under the flush policy before it answers that flush. So eight async
 * producers that each write and flush in the same tick send one message with
 * eight marks, and every policy answers them with one sync (writer/marked-write.ts).
 * Order is preserved: batches are sent in call order on one link, and every
 * other request sends the queued batch ahead of itself (WriterLink.call).
 */
export class WriteBatcher {
  private records = new RecordBuffer();
  /** Segments already cut by a flush in the batch being built, oldest first. */
  private cut: Segment[] = [];
  /** The segment new writes join (undefined until the next write). */
  private open: Segment | undefined;
  private scheduled = false;

  constructor(
    private readonly post: PostRequest,
    private readonly ahead: FlushAhead,
  ) {}

  /** True when no write is queued in this tick. */
  empty(): boolean {
    return this.cut.length === 0 && this.open === undefined;
  }

  /** Queues a record; resolves with the key's prior existence once applied. */
  write(kind: RecordKindValue, namespace: number, key: Key | null, keyLen: number, value: string | Uint8Array | null, expiresAt: number): Promise<boolean> {
    const segment = this.segment();
    const at = this.records.append(kind, namespace, key, keyLen, value, expiresAt);
    if (this.records.len >= EAGER_SEND_BYTES) this.send();
    return segment.promise.then((done) => done.existed?.[at] === 1);
  }

  /** Same as write() for callers that do not need the result (insert). */
  put(namespace: number, key: Key, keyLen: number, value: string | Uint8Array, expiresAt: number): Promise<void> {
    const segment = this.segment();
    this.records.append(RecordKind.PUT, namespace, key, keyLen, value, expiresAt);
    segment.settled ??= segment.promise.then(() => undefined);
    if (this.records.len >= EAGER_SEND_BYTES) this.send();
    return segment.settled;
  }

  /** Sends what is queued now (used before other requests and close, so ordering holds). */
  send(): void {
    const cut = this.cut;
    const open = this.open;
    if (cut.length === 0 && !open) return;
    this.cut = [];
    this.open = undefined;
    const { payload, bytes, count } = this.records.take();
    const markAhead = this.ahead.sending();
    if (open) {
      open.end = bytes;
      if (markAhead) open.durable = deferred<void>();
    }
    const segments = open ? [...cut, open] : cut;
    // Every cut segment has a mark, and only the last segment may lack one: mark i is segment i (settle()).
    const marks = segments.filter((s) => s.durable !== undefined).map((s) => s.end);
    const sent = this.post(marks.length > 0 ? { t: 'write', count, bytes, existed: true, marks } : { t: 'write', count, bytes, existed: true }, payload);
    const last = segments[segments.length - 1]!;
    if (last.durable) this.ahead.cover(last.durable.promise);
    sent.then(
      (done) => settle(segments, done),
      (err: unknown) => {
        for (const s of segments) {
          s.reject(err);
          s.durable?.reject(err);
        }
      },
    );
  }

  /**
   * flush() with writes queued: marks the batch here and returns a promise that
   * settles with the sync covering the mark (the writes resolve when applied).
   * Undefined when nothing is queued (the caller sends a plain flush).
   */
  markDurable(): Promise<void> | undefined {
    const open = this.open;
    if (open) {
      this.open = undefined;
      open.end = this.records.len;
      open.durable = deferred<void>();
      this.cut.push(open);
      this.ahead.carried();
      return open.durable.promise;
    }
    // Two flushes with no write between them share the mark.
    const last = this.cut[this.cut.length - 1];
    if (!last) return undefined;
    last.durable ??= deferred<void>();
    this.ahead.carried();
    return last.durable.promise;
  }

  private segment(): Segment {
    if (this.open) return this.open;
    const d = deferred<Done>();
    this.open = { ...d, settled: undefined, end: -1, durable: undefined };
    if (!this.scheduled) {
      this.scheduled = true;
      // After the microtask queue drains (see port-outbox.ts): every write and flush
      // that promise continuations make in this tick joins the batch.
      process.nextTick(() => {
        this.scheduled = false;
        this.send();
      });
    }
    return this.open;
  }
}

/**
 * Settles each segment by the writer's answer: the batch was applied whole (a
 * refused batch is an error reply, which rejects every segment), and each
 * mark's flush gets its sync's outcome.
 */
function settle(segments: readonly Segment[], done: Done): void {
  segments.forEach((s, i) => {
    s.resolve(done);
    const syncError = done.syncErrors?.[i];
    if (syncError) s.durable?.reject(syncError);
    else s.durable?.resolve();
  });
}
