import type { FlushPolicy } from '../protocol.js';

/**
 * Turns flush requests into fdatasync calls according to the flush policy.
 *  - onEachFlush: every request pays its own sync (skipped when nothing new).
 *  - group: the first request becomes the leader and waits up to maxWaitMs for
 *    followers; the batch syncs once when maxBatch requests are waiting or the
 *    wait ends, and every member gets the same outcome.
 *  - writeThrough: records were durable when written; flush only reports.
 */
export class GroupFlusher {
  private waiting: number[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly policy: FlushPolicy,
    private readonly sync: () => void,
    private readonly done: (id: number, error?: unknown) => void,
  ) {}

  request(id: number): void {
    if (this.policy.kind !== 'group') {
      this.run([id]);
      return;
    }
    this.waiting.push(id);
    if (this.waiting.length >= this.policy.maxBatch) {
      this.drain();
    } else if (!this.timer) {
      this.timer = setTimeout(() => this.drain(), this.policy.maxWaitMs);
    }
  }

  /** Syncs now for everyone waiting (also before checkpoint and close). */
  drain(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const ids = this.waiting;
    this.waiting = [];
    if (ids.length > 0) this.run(ids);
  }

  private run(ids: number[]): void {
    let error: unknown;
    try {
      this.sync();
    } catch (err) {
      error = err;
    }
    for (const id of ids) this.done(id, error);
  }
}
