import type { FlushPolicy } from '../protocol.js';

/** Told once the records appended before the request are durable, or why not. */
export type FlushDone = (error?: unknown) => void;

/**
 * Turns flush requests into fdatasync calls according to the flush policy.
 * Runs on the writer thread, so a request always covers every record appended
 * before it, whoever appended it.
 *  - onEachFlush: every request pays its own sync, at once (the engine skips it
 *    only when nothing was appended since the last one).
 *  - writeThrough: records were durable when written (O_DSYNC); flush only answers.
 *  - group: leader/follower. The first request while none is waiting becomes the
 *    leader; requests that arrive before the leader syncs are its followers. The
 *    leader syncs once for the whole batch, and every member gets that sync's
 *    outcome, at the first of:
 *      1. maxBatch requests are waiting (the batch is full);
 *      2. the writer has handled every message that had arrived (a setImmediate,
 *         which runs after the pending port messages of this event-loop turn):
 *         nobody else is in line, so waiting longer would be pure latency;
 *      3. maxWaitMs have passed since the leader arrived (a timer), which bounds
 *         the wait when messages keep arriving without filling the batch.
 *    Messages that arrive while a sync runs (it blocks this thread) queue in the
 *    ports and form the next batch, so batching grows with load by itself.
 *    A failed sync reaches every member as the same error, and the engine then
 *    refuses writes: the batch is never retried and assumed good.
 */
export class GroupFlusher {
  private waiting: FlushDone[] = [];
  private timer: NodeJS.Timeout | undefined;
  private idle: NodeJS.Immediate | undefined;

  constructor(
    private readonly policy: FlushPolicy,
    private readonly sync: () => void,
  ) {}

  request(done: FlushDone): void {
    if (this.policy.kind !== 'group') {
      this.run([done]);
      return;
    }
    this.waiting.push(done);
    if (this.waiting.length >= this.policy.maxBatch) {
      this.drain();
      return;
    }
    if (this.waiting.length === 1) {
      this.idle = setImmediate(() => this.drain());
      this.timer = setTimeout(() => this.drain(), this.policy.maxWaitMs);
    }
  }

  /** Syncs now for everyone waiting (also before checkpoint, compaction and close). */
  drain(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.idle) clearImmediate(this.idle);
    this.timer = this.idle = undefined;
    const batch = this.waiting;
    this.waiting = [];
    if (batch.length > 0) this.run(batch);
  }

  private run(batch: FlushDone[]): void {
    let error: unknown;
    try {
      this.sync();
    } catch (err) {
      error = err;
    }
    for (const done of batch) done(error);
  }
}
