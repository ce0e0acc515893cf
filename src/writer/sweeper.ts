/**
 * Active expiry on the writer thread: one unref'd timer set for the earliest
 * deadline; when it fires, removal records are written in bounded batches
 * (SWEEP_BATCH keys each), one batch per event-loop turn, so requests that
 * arrive meanwhile are served between batches and no write waits behind more
 * than one batch. Timers are unref'd: a sweep never keeps the process alive.
 * Nothing runs at open before the first turn, so reopening a database full of
 * expired records serves reads at once (reads never go through the writer, and
 * they already skip expired records).
 */
export const SWEEP_BATCH = 1000;
/** setTimeout's ceiling; a later deadline re-arms when this fires. */
const MAX_DELAY = 2 ** 31 - 1;

export interface Sweepable {
  now(): number;
  nextDeadline(): number;
  /** One batch; true when more are due now. */
  sweep(max: number): boolean;
}

export class Sweeper {
  private timer: NodeJS.Timeout | undefined;
  /** Wall-clock (database clock) time the timer fires at; Infinity when unarmed. */
  private armedFor = Infinity;
  private stopped = false;

  constructor(private readonly target: Sweepable) {}

  /** After a write: re-arms only when a new deadline is earlier than the armed one (O(1)). */
  poke(): void {
    if (this.target.nextDeadline() < this.armedFor) this.arm();
  }

  /** Re-arms for the current earliest deadline (after open, compaction, a clock change). */
  arm(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
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
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private readonly run = (): void => {
    this.timer = undefined;
    this.armedFor = Infinity;
    if (this.stopped) return;
    let more = false;
    try {
      more = this.target.sweep(SWEEP_BATCH);
    } catch {
      // A failed append poisoned the engine, which reports it to the next request; expired keys stay invisible.
      return;
    }
    if (more) {
      // Yield a turn so queued requests run before the next batch.
      this.armedFor = -Infinity;
      this.timer = setTimeout(this.run, 0);
      this.timer.unref();
    } else {
      this.arm();
    }
  };
}
