/**
 * Active expiry on the writer thread: one unref'd timer set for the earliest
 * deadline; when it fires, removal records are written in bounded batches,
 * one batch per event-loop turn, so requests that arrive meanwhile are served
 * between batches. A batch is bounded by count (SWEEP_BATCH keys, fewer after
 * slow batches) and by time (SWEEP_BUDGET_MS gathering them), so a request
 * waits behind at most one short batch whatever the machine's speed or the
 * indexes' cost.
 * The index purge the removals cause runs in steps of its own between
 * requests (log-state.ts stepPurge), never inside a batch. The timer is
 * unref'd; the turns of a run are not (see run), and the writer thread is
 * unref'd, so a sweep never keeps the process alive. Nothing runs at open before
 * the first turn, so reopening a database full of expired records serves
 * reads at once (reads never go through the writer, and they already skip
 * expired records).
 */
export const SWEEP_BATCH = 1000;
/** Time a batch may spend choosing its keys, ms (DESIGN.md, "TTL": a write waits at most ~2x this behind one). */
export const SWEEP_BUDGET_MS = 4;
/** The smallest adaptive batch (see Sweeper.batch): on a loaded machine every batch looks slow, and the run must keep its pace. */
const MIN_BATCH = 250;
/** setTimeout's ceiling; a later deadline re-arms when this fires. */
const MAX_DELAY = 2 ** 31 - 1;

export interface Sweepable {
  now(): number;
  nextDeadline(): number;
  /** One batch of at most `max` keys gathered for at most `budgetMs`; true when more are due now. */
  sweep(max: number, budgetMs: number): boolean;
}

export class Sweeper {
  private timer: NodeJS.Timeout | undefined;
  /** The turn yielded between two batches of one run. */
  private next: NodeJS.Immediate | undefined;
  /**
   * Keys per batch: halved after a batch that took more than twice the budget
   * (appending removals can cost more than choosing them, e.g. with the sorted
   * index), grown back by a quarter after one that took less than the budget.
   */
  private batch = SWEEP_BATCH;
  /** Wall-clock (database clock) time the timer fires at; Infinity when unarmed. */
  private armedFor = Infinity;
  private stopped = false;

  /** `afterBatch`: runs after each batch (the writer schedules the index purge a batch may have started). */
  constructor(
    private readonly target: Sweepable,
    private readonly afterBatch: () => void = () => undefined,
  ) {}

  /** After a write: re-arms only when a new deadline is earlier than the armed one (O(1)). */
  poke(): void {
    if (this.target.nextDeadline() < this.armedFor) this.arm();
  }

  /** Re-arms for the current earliest deadline (after open, compaction, a clock change). */
  arm(): void {
    if (this.stopped) return;
    this.cancel();
    const next = this.target.nextDeadline();
    if (next === Infinity) {
      this.armedFor = Infinity;
      return;
    }
    const delay = Math.min(Math.max(0, next - this.target.now()), MAX_DELAY);
    this.armedFor = next;
    this.timer = setTimeout(this.run, delay);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    this.cancel();
  }

  private cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.next) clearImmediate(this.next);
    this.timer = undefined;
    this.next = undefined;
  }

  private readonly run = (): void => {
    this.timer = undefined;
    this.next = undefined;
    this.armedFor = Infinity;
    if (this.stopped) return;
    let more = false;
    const started = performance.now();
    try {
      more = this.target.sweep(this.batch, SWEEP_BUDGET_MS);
    } catch {
      // A failed append poisoned the engine, which reports it to the next request; expired keys stay invisible.
      return;
    }
    const took = performance.now() - started;
    if (took > 2 * SWEEP_BUDGET_MS) this.batch = Math.max(MIN_BATCH, this.batch >> 1);
    else if (took < SWEEP_BUDGET_MS) this.batch = Math.min(SWEEP_BATCH, Math.ceil(this.batch * 1.25));
    this.afterBatch();
    if (more) {
      // Yield a turn: setImmediate runs after the loop's poll phase, so requests queued meanwhile go first.
      // Not unref'd: an unref'd immediate lets the poll phase block until some other event, so an idle
      // writer swept one batch per wake-up of an unrelated timer (~5 a second). The writer thread is
      // unref'd itself, so this keeps no process alive; the run ends when the backlog does.
      this.armedFor = -Infinity;
      this.next = setImmediate(this.run);
    } else {
      this.arm();
    }
  };
}
