import { deserializeError, type EmdbError } from '../errors.js';
import type { Done, Envelope, RequestBody, WriterReply, WriterRequest } from '../protocol.js';
import { envelope, unpack } from '../protocol-codec.js';
import { FlushAhead } from './flush-ahead.js';
import { WriteBatcher } from './write-batcher.js';

/**
 * How requests reach the writer and replies come back: the opening thread's
 * worker port (core/writer-worker.ts), an attached thread's link channel
 * (core/attached.ts), and whatever comes next. A transport may carry several
 * envelopes in one message, or requests in a shared-memory ring; the link only
 * needs each reply envelope handed to `receive`, in any grouping.
 */
export interface LinkTransport {
  /** Starts delivering reply envelopes to `receive`, and a failure of the transport itself to `fail`. */
  listen(receive: (env: Envelope) => void, fail: (err: EmdbError) => void): void;
  /** Sends one request envelope (its `transfer` list may be moved, not copied). */
  send(env: Envelope, transfer: ArrayBuffer[]): void;
  /** Keeps this thread alive (true) while replies are outstanding, lets it exit (false) when none are. */
  ref(on: boolean): void;
}

interface Pending {
  resolve(done: Done): void;
  reject(err: EmdbError): void;
}

/**
 * A thread's one line to the writer worker: numbers requests, keeps the pending
 * map, refs the transport while replies are outstanding and decodes replies.
 *
 * Ordering rule: writes are queued in `batcher` for the rest of the tick, and
 * every other request must reach the writer after the writes made before it.
 * `call` sends the queued batch first, so that rule is kept here, once.
 */
export class WriterLink {
  readonly batcher: WriteBatcher;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  /** Set once the transport failed or the writer said the database is gone: every later request rejects with it. */
  failure: EmdbError | undefined;

  private readonly ahead = new FlushAhead();

  constructor(private readonly transport: LinkTransport) {
    this.batcher = new WriteBatcher((body, payload) => this.post(body, payload), this.ahead);
    transport.listen(
      (env) => this.receive(env),
      (err) => this.fail(err),
    );
  }

  /** Sends the writes queued so far, then `body`; resolves with its reply. */
  call(body: RequestBody, payload?: ArrayBuffer): Promise<Done> {
    this.batcher.send();
    if (body.t !== 'write' || body.marks !== undefined) {
      this.ahead.forget();
      return this.post(body, payload);
    }
    // A bulk chunk or a transaction commit: one batch to flush-ahead.ts like the batcher's.
    if (!this.ahead.sending()) return this.post(body, payload);
    const sent = this.post({ ...body, marks: [body.bytes] }, payload);
    this.ahead.cover(
      sent.then((done) => {
        const syncError = done.syncErrors?.[0];
        if (syncError) throw syncError;
      }),
    );
    return sent;
  }

  /**
   * flush(): joins writes still queued in this tick (their batch carries the
   * mark), or waits for the mark a flush-ahead batch already carries
   * (flush-ahead.ts), or sends a flush message.
   */
  async flush(): Promise<void> {
    const covered = this.batcher.markDurable() ?? this.ahead.flushed();
    if (covered) await covered;
    else await this.call({ t: 'flush' });
  }

  /** True when nothing this link sent is unanswered and no write is queued: every write it made is applied. */
  quiet(): boolean {
    return this.pending.size === 0 && this.batcher.empty();
  }

  /** Told of the first failure, after it is set (an attached thread drops its view when the database closed). */
  onFailure: ((err: EmdbError) => void) | undefined;

  /** Rejects every pending and later request with `err` (the first failure wins). */
  fail(err: EmdbError): void {
    const first = this.failure === undefined;
    this.failure ??= err;
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
    this.transport.ref(false);
    if (first) this.onFailure?.(err);
  }

  private post(body: RequestBody, payload: ArrayBuffer | undefined): Promise<Done> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const { env, transfer } = envelope({ ...body, id } as WriterRequest, payload);
    return new Promise<Done>((resolve, reject) => {
      if (this.pending.size === 0) this.transport.ref(true);
      this.pending.set(id, { resolve, reject });
      this.transport.send(env, transfer);
    });
  }

  private receive(env: Envelope): void {
    const msg = unpack<WriterReply>(env.m);
    if (msg.t === 'failed') {
      this.fail(deserializeError(msg.error));
      return;
    }
    if (msg.t !== 'done') return;
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (this.pending.size === 0) this.transport.ref(false);
    if (msg.error) p.reject(deserializeError(msg.error));
    else p.resolve(doneOf(msg, env));
  }
}

/** A successful reply as callers see it: the packed fields, errors revived, plus the envelope's side-cars. */
function doneOf(msg: Extract<WriterReply, { t: 'done' }>, env: Envelope): Done {
  const { t: _t, id: _id, error: _error, syncErrors, ...fields } = msg;
  const done: Done = fields;
  if (env.shared) done.shared = env.shared;
  if (env.payload) done.payload = env.payload;
  if (syncErrors) done.syncErrors = syncErrors.map((e) => (e ? deserializeError(e) : undefined));
  return done;
}
