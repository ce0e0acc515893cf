/**
 * Flush-ahead: a thread that keeps doing `await write; await flush()` pays two
 * round trips to the writer per durable write (the write, then the flush), and
 * a round trip between two threads costs more than the fdatasync on a fast disk
 * (docs/BENCH.md, "Durable writes"). Once a thread has done that twice in a row,
 * its next write batch carries its own flush mark at its end: the writer makes
 * it durable before it answers (under the flush policy, so `group` still
 * shares the sync), and the flush() that follows finds its writes already
 * covered and settles without a message.
 *
 * Only this thread's writes matter to its flush(): the writer serialises the
 * thread's requests in order, so a mark at the end of its last batch covers
 * everything the thread sent before. A request that may write but carries no
 * mark (a transaction commit sent without a prediction, a namespace drop...)
 * clears the cover, and the next flush() is a message again.
 *
 * A wrong guess costs one extra sync: a second batch sent without a flush in
 * between turns the prediction off at once (bulk loaders never pay more than
 * that once), and a same-tick `write; flush()` already carries its mark.
 */

/** Write-then-flush cycles in a row after which write batches carry a flush mark. */
export const FLUSH_AHEAD_AFTER = 2;

export class FlushAhead {
  /** Write batches sent since the last flush(). */
  private batchesSinceFlush = 0;
  /** Consecutive flush() calls that each followed exactly one write batch. */
  private cycles = 0;
  /** Settles with the sync of the mark that covers every write this thread sent so far; undefined when no mark does. */
  private covered: Promise<void> | undefined;

  /** A write batch is about to be sent: true when it should end with a flush mark. */
  sending(): boolean {
    if (this.batchesSinceFlush++ > 0) this.cycles = 0;
    this.covered = undefined;
    return this.cycles >= FLUSH_AHEAD_AFTER;
  }

  /** The batch just sent ends with a mark whose sync `durable` settles with. */
  cover(durable: Promise<void>): void {
    // Observed here so that a failed sync nobody flushes for does not reject unhandled; flush() still sees the rejection.
    durable.catch(() => undefined);
    this.covered = durable;
  }

  /** A request that may write went out without a mark. */
  forget(): void {
    this.covered = undefined;
  }

  /** flush() joined writes still queued in this tick (their batch carries its mark). */
  carried(): void {
    this.batchesSinceFlush = 0;
  }

  /** flush() with nothing queued: the mark's outcome to wait for, or undefined (send a flush message). */
  flushed(): Promise<void> | undefined {
    if (this.batchesSinceFlush === 1) this.cycles++;
    else if (this.batchesSinceFlush > 1) this.cycles = 0;
    this.batchesSinceFlush = 0;
    return this.covered;
  }
}
