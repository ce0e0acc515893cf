import type { FlushPolicy } from '../types.js';

/** Told once the records appended before the request are durable, or why not. */
export type FlushDone = (error?: unknown) => void;

/** Batch sizes the leader remembers when it estimates how many followers are coming. */
const HISTORY = 4;
/** Node timers fire no sooner than 1 ms: a shorter follower window would be rounded up anyway. */
const MIN_WINDOW_MS = 1;

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
 *      3. the follower window after the leader arrived (a timer): the bound on
 *         the wait when expected followers do not come. The window adapts: twice
 *         the longest recent gathering time (leader's arrival to the request that
 *         completed its batch), at least 1 ms (timer resolution), at most
 *         maxWaitMs (so it can double per batch while followers keep coming
 *         late in it). Followers that are really coming (producers looping on
 *         write + flush) come back within about one gathering time; a lone
 *         producer after a burst has nobody behind it, so it must not wait
 *         maxWaitMs for the burst's ghosts. A window that runs out also resets
 *         the estimate to the batch that did gather (decay at once, not over
 *         the next few batches), so the lone producer's next flush syncs as
 *         soon as the writer is idle (when fewer than half of the expected
 *         batch gathered; a batch a little short keeps the estimate).
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
  /** Recent gathering times (ms from a leader's arrival to the request that completed its batch). */
  private readonly spans: number[] = [];
  private leaderAt = 0;
  private lastArrival = 0;
  /** Group syncs the follower-window timer started: followers were expected and did not come (stats().flushTimeouts). */
  timeouts = 0;

  constructor(
    private readonly policy: FlushPolicy,
    /** Makes every appended record durable; throws when the sync fails. */
    private readonly sync: () => void,
    /** True when records were appended since the last sync (or the engine has failed, so sync must throw). */
    private readonly needsSync: () => boolean,
    /** Milliseconds clock for the gathering times (injected by tests that fake timers). */
    private readonly now: () => number = () => performance.now(),
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
    this.lastArrival = this.now();
    if (this.waiting.length === 1) this.leaderAt = this.lastArrival;
    if (this.waiting.length >= policy.maxBatch) {
      this.drain();
      return;
    }
    if (this.waiting.length === 1) this.timer = setTimeout(() => this.onTimeout(), this.followerWindow(policy.maxWaitMs));
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
    remember(this.recent, batch.length);
    remember(this.spans, this.lastArrival - this.leaderAt);
    this.run(batch);
  }

  /** How long a leader waits for expected followers: see rule 3 above. */
  private followerWindow(maxWaitMs: number): number {
    // Whole milliseconds, rounded up: Node timers do not keep fractions, and rounding down could cut off the followers it measured.
    return Math.min(maxWaitMs, Math.max(MIN_WINDOW_MS, Math.ceil(2 * Math.max(0, ...this.spans))));
  }

  /**
   * The expected followers did not come. When fewer than half of them came,
   * the estimate is stale (the producers of a burst are gone): only what did
   * gather counts from now on, so the next lone flush syncs at once. A batch
   * that fell only a little short keeps the estimate: on a busy host some
   * producers of a steady group are merely late, and forgetting them would
   * split the group into alternating halves again. The gathering times are
   * kept (this batch's joins them): followers that came late but within the
   * window widen the next one, so it can grow towards maxWaitMs.
   */
  private onTimeout(): void {
    this.timer = undefined;
    this.timeouts++;
    if (this.waiting.length * 2 <= Math.max(1, ...this.recent)) this.recent.length = 0;
    this.drain();
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

function remember(history: number[], value: number): void {
  history.push(value);
  if (history.length > HISTORY) history.shift();
}
