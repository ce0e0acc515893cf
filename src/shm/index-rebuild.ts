/**
 * A tombstone purge of the shared index spread over many writer turns, so no
 * request waits behind an O(capacity) rebuild (DESIGN.md, "The shared index").
 *
 * The published table (`from`) stays the one every thread probes and the
 * writer keeps updating it as before. A new, unpublished table (`to`) is filled
 * a range of `from`'s slots per step, in slot order; `cursor` is the first slot
 * not yet copied. A write made meanwhile lands in one slot of `from`
 * (IndexWriter.lastSlot): if that slot was already copied the same write is
 * made in `to`, otherwise the copy will take the slot's state when it gets
 * there. Entries never move inside `from`, so each key's state reaches `to`
 * exactly once, whichever happens first. When the cursor reaches the end, `to`
 * holds exactly `from`'s live entries, without tombstones; the owner then
 * publishes it (rule R4) and never writes `from` again (R5). Until then no
 * thread but the writer knows `to`, so building it needs no seqlock.
 */
import { testMutant } from '../mutants.js';
import { IndexWriter } from './index-table.js';
import { capacityFor, MAX_LOAD } from './layout.js';
import type { MirrorView } from './mirror.js';

/** Planted defect (test/api/index-growth-purge.test.ts): writes to copied slots are not repeated in the new table. */
const LOSES_WRITES = testMutant.name === 'purge-loses-writes';
/** Slots copied between two clock reads: small enough to keep a step near its budget. */
const CLOCK_EVERY = 8192;

export class IndexRebuild {
  /** Slots of `from` below this are copied. */
  private cursor = 0;

  private constructor(
    readonly from: IndexWriter,
    readonly to: IndexWriter,
  ) {}

  /** A purge of `from` into a table sized for `minLive` keys at ≤ 50% load (allocation only: the pages fault in as steps fill them). */
  static start(from: IndexWriter, minLive: number): IndexRebuild {
    return new IndexRebuild(from, IndexWriter.allocate(capacityFor(Math.max(minLive, from.live + 1))));
  }

  get done(): boolean {
    return this.cursor >= this.from.capacity;
  }

  /** True when the finished table would still be under the load limit with `more` new keys. */
  fits(more: number): boolean {
    return this.from.live + this.to.deleted + more <= this.to.capacity * MAX_LOAD;
  }

  /** After `from.upsert(...)` with the same arguments: repeats it in `to` when its slot was already copied. */
  upserted(mirror: MirrorView, ns: number, key: Uint8Array, start: number, len: number, hash: number, lsn: number): void {
    if (this.from.lastSlot < this.cursor && !LOSES_WRITES) this.to.upsert(mirror, ns, key, start, len, hash, lsn);
  }

  /** After a `from.remove(...)` that removed the key (same arguments): repeats it in `to` when its slot was already copied. */
  removed(mirror: MirrorView, ns: number, key: Uint8Array, start: number, len: number, hash: number): void {
    if (this.from.lastSlot < this.cursor) this.to.remove(mirror, ns, key, start, len, hash);
  }

  /**
   * Copies slots, `chunk` at a time, until `budgetMs` has passed (at least one
   * chunk, so it always progresses) or the table is done. True when done.
   */
  step(budgetMs: number, chunk = CLOCK_EVERY): boolean {
    const until = performance.now() + budgetMs;
    const end = this.from.capacity;
    do {
      const next = Math.min(end, this.cursor + chunk);
      this.from.copyLiveInto(this.to, this.cursor, next);
      this.cursor = next;
    } while (this.cursor < end && performance.now() < until);
    return this.done;
  }
}
