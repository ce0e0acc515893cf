/**
 * Whole write batches for multi-key reads (rule R6 in layout.ts). The writer
 * makes BATCH_SEQ odd before it publishes the first index slot of a batch and
 * even after the last; getMany reads its keys between two equal, even loads of
 * it and retries otherwise, so it sees each batch (a transaction, an
 * insertMany chunk, a tick's writes) whole or not at all. A single lookup
 * needs none of this: one slot read is atomic already (R2).
 *
 * A read that keeps meeting batches (a long key list beside a busy writer)
 * takes a hold after HOLD_AFTER tries: the writer then waits before its next
 * batch until the holders are done or their deadline passed, so the read
 * finishes in at most one more try. The deadline bounds the wait when a
 * thread ends while holding (a terminated worker never releases).
 */
import { EmdbError, ErrorCode } from '../errors.js';
import { Ctl32 } from './layout.js';

/** Tries before a read takes a hold; most reads need one, a batch landing mid-read costs a second. */
const HOLD_AFTER = 3;
/** A hold's deadline: this many times the last try's duration from now, and at least HOLD_MIN_MS. */
const HOLD_FACTOR = 4;
const HOLD_MIN_MS = 20;
/**
 * And at most this: a deadline further ahead than this is one left from long
 * ago that the 32-bit clock wrapped onto (24.8 days), never one a live hold set.
 */
const HOLD_MAX_MS = 60_000;
/** Longest single wait of the writer for holders (it re-reads the deadline after each). */
const WRITER_WAIT_SLICE_MS = 5;
/**
 * A batch open this long was left by a writer that died mid-batch. A live
 * one publishes in microseconds, but a batch can include a rebuild of the
 * whole table, seconds for hundreds of millions of keys on a loaded machine.
 */
const DEAD_WRITER_MS = 30_000;
/** Longest single wait of a reader for an odd BATCH_SEQ to turn even (the writer notifies). */
const READER_WAIT_SLICE_MS = 50;

/** Retries because a batch was published during a read, and holds taken (diagnostics, this thread). */
export const batchReadStats = { retries: 0, holds: 0 };

/** Low 32 bits of the wall clock: HOLD_UNTIL compares by signed 32-bit difference (valid for ±24 days). */
function now32(): number {
  return Date.now() | 0;
}

/** The writer's side of R6. */
export class BatchPublisher {
  private readonly ctl32: Int32Array;

  constructor(control: SharedArrayBuffer) {
    this.ctl32 = new Int32Array(control);
  }

  /** Before the first index slot of a batch: waits for holders (bounded), then makes BATCH_SEQ odd. */
  begin(): void {
    if (Atomics.load(this.ctl32, Ctl32.READ_HOLDS) !== 0) this.waitForHolders();
    Atomics.add(this.ctl32, Ctl32.BATCH_SEQ, 1);
  }

  /** After the batch's last slot (and the sorted tail's count): even again, and readers waiting on it woken. */
  end(): void {
    Atomics.add(this.ctl32, Ctl32.BATCH_SEQ, 1);
    Atomics.notify(this.ctl32, Ctl32.BATCH_SEQ);
  }

  private waitForHolders(): void {
    const ctl32 = this.ctl32;
    for (;;) {
      const holds = Atomics.load(ctl32, Ctl32.READ_HOLDS);
      if (holds <= 0) return;
      const left = (Atomics.load(ctl32, Ctl32.HOLD_UNTIL) - now32()) | 0;
      if (left <= 0 || left > HOLD_MAX_MS) return;
      // A release notifies READ_HOLDS; a raised deadline is read again after the slice.
      Atomics.wait(ctl32, Ctl32.READ_HOLDS, holds, Math.min(left, WRITER_WAIT_SLICE_MS));
    }
  }
}

/**
 * Runs `read` (which syncs its view and looks its keys up) until it ran
 * within one even BATCH_SEQ value: what it saw holds every batch whole or not
 * at all. `read` must start over each time (it may run several times) and
 * sync the view first: a table replaced inside a batch is frozen mid-batch (R5).
 */
export function readBatchesWhole(ctl32: Int32Array, read: () => void): void {
  let holding = false;
  try {
    for (let tries = 1; ; tries++) {
      const before = evenBatchSeq(ctl32);
      const started = performance.now();
      read();
      if (Atomics.load(ctl32, Ctl32.BATCH_SEQ) === before) return;
      batchReadStats.retries++;
      if (tries < HOLD_AFTER) continue;
      if (!holding) {
        holding = true;
        batchReadStats.holds++;
        Atomics.add(ctl32, Ctl32.READ_HOLDS, 1);
      }
      // Raised at each try: it must cover the next one, after the batch in flight.
      const span = Math.min(HOLD_MAX_MS, Math.max(HOLD_MIN_MS, Math.ceil(HOLD_FACTOR * (performance.now() - started))));
      Atomics.store(ctl32, Ctl32.HOLD_UNTIL, (now32() + span) | 0);
    }
  } finally {
    if (holding) {
      Atomics.sub(ctl32, Ctl32.READ_HOLDS, 1);
      Atomics.notify(ctl32, Ctl32.READ_HOLDS);
    }
  }
}

/** BATCH_SEQ once it is even (no batch being published), waiting while it is odd. */
function evenBatchSeq(ctl32: Int32Array): number {
  let seq = Atomics.load(ctl32, Ctl32.BATCH_SEQ);
  if ((seq & 1) === 0) return seq;
  const since = performance.now();
  while ((seq & 1) !== 0) {
    // Not a spin: the writer notifies when it makes the value even (BatchPublisher.end).
    Atomics.wait(ctl32, Ctl32.BATCH_SEQ, seq, READER_WAIT_SLICE_MS);
    seq = Atomics.load(ctl32, Ctl32.BATCH_SEQ);
    if ((seq & 1) !== 0 && performance.now() - since > DEAD_WRITER_MS) {
      throw new EmdbError(ErrorCode.IO, 'a write batch was left half-published by a writer that stopped');
    }
  }
  return seq;
}
