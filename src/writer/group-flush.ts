import type { FlushPolicy } from '../types.js';

/** Told once the records appended before the request are durable, or why not. */
export type FlushDone = (error?: unknown) => void;

/** Batch sizes the leader remembers when it estimates how many followers are coming. */
const HISTORY = 4;

/**
 * Turns flush requests into fdatasync calls according to the flush policy. It
 * runs on the writer thread, between messages, so a request covers every record
 * appended before it, whichever thread sent it; and the sync blocks this thread,
 * so requests that arrive during a sync queue in the ports meanwhile.
 *
 *  - onEachFlush: every request pays its own sync, at once.
 *  - writeThrough: records were durable when written (O_DSYNC); flush only answers.
 *  - group (leader/follower): the first request while none is waiting becomes
 *    the leader; requests that arrive before the leader syncs are its followers;
 *    one sync serves the whole batch and every member gets its outcome. The
 *    leader syncs at the first of:
 *      1. maxBatch requests are waiting (the batch is full) — at once;
 *      2. the writer has handled every message that had arrived (a setImmediate
 *         runs after the port messages of the current event-loop turn) and at
 *         least as many requests are waiting as the largest of the last few
 *         batches — nobody else is likely to come soon, so waiting longer would
 *         be pure latency. A lone producer's batches are of one, so its flushes
 *         sync with no added wait; 8 producers' batches are of about 8, so the
 *         leader lets the producers that were just answered rejoin instead of
 *         splitting them into two half-size batches that alternate;
 *      3. maxWaitMs after the leader arrived (a timer): the bound on the wait when
 *         expected followers do not come (then the next batches are smaller, and
 *         so is the estimate).
 *
 * In every policy a request is answered at once when nothing appended is
 * unsynced. A failed sync reaches every member of the batch as the same error,
 * and the engine then refuses writes: a batch is never retried and assumed good.
 */
export class GroupFlusher {
  private waiting: FlushDone[] = [];
  private timer: NodeJS.Timeout | undefined;
  private idle: NodeJS.Immediate | undefined;
  private readonly recent: number[] = [];

  constructor(
    private readonly policy: FlushPolicy,
    /** Makes every appended record durable; throws when the sync fails. */
    private readonly sync: () => void,
    /** True when records were appended since the last sync (or the engine has failed, so sync must throw). */
    private readonly needsSync: () => boolean,
  ) {}

  request(done: FlushDone): void {
    const policy = this.policy;
    if (this.waiting.length === 0 && !this.needsSync()) {
      done();
      return;
    }
    if (policy.kind !== 'group') {
      this.run([done]);
      return;
    }
    this.waiting.push(done);
    if (this.waiting.length >= policy.maxBatch) {
      this.drain();
      return;
    }
    if (this.waiting.length === 1) this.timer = setTimeout(() => this.drain(), policy.maxWaitMs);
    this.idle ??= setImmediate(() => this.onIdle());
  }

  /** Syncs now for everyone waiting (also before checkpoint, compaction and close). */
  drain(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.idle) clearImmediate(this.idle);
    this.timer = this.idle = undefined;
    const batch = this.waiting;
    this.waiting = [];
    if (batch.length === 0) return;
    this.recent.push(batch.length);
    if (this.recent.length > HISTORY) this.recent.shift();
    this.run(batch);
  }

  private onIdle(): void {
    this.idle = undefined;
    if (this.waiting.length >= Math.max(1, ...this.recent)) this.drain();
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
