import type { LazySpec } from '../shm/lazy-pages.js';
import { mirrorViewOf, type FramedSpec } from '../shm/framed-mirror.js';
import type { SortedManifest } from '../shm/sorted-run.js';
import { collectRange, snapshotSources, type Bound, type Chunk, type RangeQuery, type RangeSnapshot } from './snapshot.js';

/**
 * A chunk of a range scan for a reader-pool thread: the snapshot the calling
 * thread captured (its buffers travel by structured clone, i.e. shared, not
 * copied; the tail by the count captured), and where to resume.
 */
export interface RangeTaskMessage {
  manifest: SortedManifest;
  tailCount: number;
  segments: SharedArrayBuffer[];
  lazy?: LazySpec;
  framed?: FramedSpec;
  ns: number;
  lower: Bound;
  upper: Bound;
  reverse: boolean;
  max: number;
  values: boolean;
  now: number;
}

/** Where range() sends its chunks on the opening thread (the reader pool). */
export interface RangePool {
  range(task: RangeTaskMessage): Promise<Chunk>;
}

/** `now`: the database clock (shm/clock.ts) of the caller, so expiry is judged as on every other read path. */
export function rangeTask(snap: RangeSnapshot, ns: number, q: RangeQuery, max: number, values: boolean, now: number): RangeTaskMessage {
  return {
    manifest: snap.manifest,
    tailCount: snap.tailCount,
    ...snap.mirror.shareable(),
    ns,
    lower: q.lower,
    upper: q.upper,
    reverse: q.reverse,
    max,
    values,
    now,
  };
}

/** Runs on a reader thread: the same scan as on the calling thread, over the same snapshot. */
export function runRangeTask(task: RangeTaskMessage): Chunk {
  const snap: RangeSnapshot = {
    generation: -1,
    sources: snapshotSources(task.manifest, task.tailCount),
    tailCount: task.tailCount,
    mirror: mirrorViewOf(task),
    manifest: task.manifest,
    createdAt: task.now,
  };
  return collectRange(snap, task.ns, task.lower, task.upper, task.reverse, task.max, task.values, task.now);
}
