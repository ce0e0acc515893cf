import { DATA_START } from '../format/constants.js';
import { durableMarkRecord } from '../format/record.js';

/**
 * When the writer puts a DURABLE_MARK before a batch (format 3, docs/FORMAT.md
 * "Durable marks"): once the durable LSN has moved past both the value the last
 * mark carried and the tail hint. That is once per sync cycle, nothing per
 * record; recovery uses the marks to tell damage that was durable from crash
 * residue.
 */
export class DurableMarks {
  /** The durable LSN the last mark carried (or a bound no mark needs to restate). */
  private marked = DATA_START;
  /** False for in-memory databases and for format 1/2 files, which do not define the kind. */
  private enabled = false;

  reset(marked: number, enabled: boolean): void {
    this.marked = marked;
    this.enabled = enabled;
  }

  /**
   * `batch`, preceded by a mark when one is due. The mark travels in the same
   * write as the batch: one syscall, and one O_DSYNC write under writeThrough.
   * `markBytes` is 0 when no mark was added.
   */
  frame(batch: Uint8Array, durableLsn: number, tailHint: number): { bytes: Uint8Array; markBytes: number; value: number } {
    if (!this.enabled || durableLsn <= this.marked || durableLsn <= tailHint) return { bytes: batch, markBytes: 0, value: 0 };
    const mark = durableMarkRecord(durableLsn);
    const bytes = new Uint8Array(mark.length + batch.length);
    bytes.set(mark);
    bytes.set(batch, mark.length);
    return { bytes, markBytes: mark.length, value: durableLsn };
  }

  /** The framed batch reached the file: its mark (if any) is the latest. */
  written(value: number): void {
    if (value > this.marked) this.marked = value;
  }
}
