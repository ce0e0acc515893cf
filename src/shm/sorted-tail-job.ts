import { SORTED_TAIL_HEADER_BYTES } from './layout.js';
import { entrySize, newBufferId } from './sorted-run.js';
import { runOfSourceSteps, sortedUniqueSteps, type StepBudget } from './sorted-sort.js';

/**
 * The first `count` entries of the current tail sorted into a run in steps,
 * in the writer's idle time (sorted-writer.ts maintain()), so a write request
 * or a flush that arrives meanwhile waits behind one step, not behind the sort
 * of a tail that a bulk load filled with tens of thousands of entries.
 *
 * The entries it covers are committed and never change (rule S2), so the job
 * reads them through views it made at the start while the writer keeps
 * appending past them (the tail grows in place: the views stay valid). The run
 * is private until the writer publishes it together with a new tail that
 * starts with the entries appended meanwhile (from `end` on).
 */
export class TailSortJob {
  /** Byte offset just past the covered entries. */
  readonly end: number;
  private readonly budget: StepBudget = { deadline: Infinity };
  private readonly steps: Generator<void, SharedArrayBuffer>;

  constructor(
    u8: Uint8Array,
    dv: DataView,
    readonly count: number,
    dropRemovals: boolean,
  ) {
    const offs = new Uint32Array(count);
    let off = SORTED_TAIL_HEADER_BYTES;
    for (let i = 0; i < count; i++) {
      offs[i] = off;
      off += entrySize(dv, off);
    }
    this.end = off;
    this.steps = TailSortJob.work(u8, dv, offs, dropRemovals, this.budget);
  }

  private static *work(u8: Uint8Array, dv: DataView, offs: Uint32Array, dropRemovals: boolean, budget: StepBudget): Generator<void, SharedArrayBuffer> {
    const sorted = yield* sortedUniqueSteps(u8, dv, offs, budget);
    return yield* runOfSourceSteps(u8, dv, sorted, sorted.length, dropRemovals, newBufferId, budget);
  }

  /** Works until `deadline` (performance.now()); the finished run, or undefined while work remains. */
  step(deadline: number): SharedArrayBuffer | undefined {
    this.budget.deadline = deadline;
    const r = this.steps.next();
    return r.done ? r.value : undefined;
  }
}
