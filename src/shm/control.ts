import { Ctl64 } from './layout.js';

/**
 * The log's LSN counter in the control block (layout.ts, NEXT_LSN). The writer
 * thread is its only writer: it reads the next LSN, appends the batch there
 * (mirror and file), then advances the counter with Atomics.add. Because no
 * other thread advances it, the add never races and the writer's own load is
 * exact; other threads read the end of the log with Atomics.load, no message
 * needed. A failed append does not advance it, so nothing is reserved for
 * bytes that never reached the file.
 */
export class LsnCounter {
  private readonly ctl64: BigInt64Array;

  constructor(control: SharedArrayBuffer) {
    this.ctl64 = new BigInt64Array(control);
  }

  /** Where the next record goes: the end of the log. */
  get next(): number {
    return Number(Atomics.load(this.ctl64, Ctl64.NEXT_LSN));
  }

  /** Moves the end of the log past `len` appended bytes; returns the new end. */
  advance(len: number): number {
    return Number(Atomics.add(this.ctl64, Ctl64.NEXT_LSN, BigInt(len))) + len;
  }

  /** Sets the end of the log (open, compaction: a log whose end is known). */
  reset(lsn: number): void {
    Atomics.store(this.ctl64, Ctl64.NEXT_LSN, BigInt(lsn));
  }
}
