/**
 * A full garbage collection of this thread's heap, soon after it dropped a
 * whole generation of shared buffers (a compaction's old mirror and index).
 *
 * Why: a SharedArrayBuffer's memory is freed only when every isolate that held
 * it has collected its JavaScript object, and V8 schedules collections by the
 * growth of the thread's own heap. The writer and the pool readers allocate
 * almost nothing on the JavaScript heap (their data lives in shared memory),
 * so their collections can be minutes apart: a service that compacts
 * periodically kept every old generation resident, ~120 MiB more RSS per
 * compaction of a 117 MiB log, until close (docs/RELIABILITY.md, "Found by
 * outside testing", 28). A forced collection of these small heaps costs a few
 * milliseconds once per compaction.
 *
 * User threads (the opening thread, attached threads) hold the same buffers
 * through their SharedView, and one that mostly calls getSync allocates as
 * little: a 312 MB load, overwrite, compaction, removal of half and second
 * compaction left 1.4 GB of RSS for a 156 MB file, 1.4 GB still after close
 * (docs/RELIABILITY.md, "Found by outside testing"). Their view schedules
 * collectDroppedBuffers when it drops a generation (SharedView.onDrop: a new
 * logEpoch, or close) of 16 MiB or more, counting the drops since the
 * thread's last collection (buffersDropped), unless the database was opened
 * with collectAfterCompaction: false. Their heaps are the application's, so that
 * is a pause on its thread (measured in docs/DESIGN.md, "Compaction"): once
 * per compaction and once at close, on a timer, never inside the caller's
 * synchronous code.
 *
 * `gc` is exposed by toggling V8's expose-gc flag around the creation of one
 * context (flags are read when a context is created), unless the process was
 * started with --expose-gc already; the flag is set back at once, so contexts
 * the application creates later do not see a `gc` global because of us. The
 * flag is process-wide: two threads doing this at once (the opening thread,
 * attached threads and the writer all collect after the same compaction) can
 * set it back between the other's two steps, and that thread's context has no
 * `gc`. It tries again (GC_ATTEMPTS); before, such a thread never collected
 * (3 threads in 90 raced, measured), and it kept every later old generation too.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

let gc: (() => void) | null | undefined;
let pending: ReturnType<typeof setTimeout> | undefined;
/** Bytes of shared buffers this thread's views dropped since its last collection (buffersDropped). */
let droppedBytes = 0;

/**
 * What a user thread's views must have dropped before it pays for a
 * collection: a small database's close or compaction frees too little to be
 * worth a pause of the application's heap (a test suite or a CLI opening and
 * closing small databases would pay one each time). Drops add up until then.
 */
export const COLLECT_MIN_DROPPED_BYTES = 16 * 1024 * 1024;

/** Contexts created to get `gc` before this thread gives up: another thread's toggle can spoil a few in a row. */
const GC_ATTEMPTS = 10;

function exposeGc(): (() => void) | null {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (typeof exposed === 'function') return exposed;
  for (let attempt = 0; attempt < GC_ATTEMPTS; attempt++) {
    try {
      v8.setFlagsFromString('--expose-gc');
      const fn: unknown = vm.runInNewContext('typeof gc === "function" ? gc : undefined');
      if (typeof fn === 'function') return fn as () => void;
    } catch {
      // a flag or a context refused: try again, then give up
    } finally {
      v8.setFlagsFromString('--no-expose-gc');
    }
  }
  return null;
}

/**
 * One full collection now. The pool readers use it: piscina's threads wait for
 * tasks in Atomics.wait, so a timer of theirs runs only when a task arrives.
 * A heap of a few MiB is collected in about a millisecond, paid by the first
 * read after a compaction on each reader thread.
 */
export function collectNow(): void {
  gc ??= exposeGc();
  droppedBytes = 0;
  gc?.();
}

/**
 * Schedules one full collection `delayMs` from now (calls meanwhile share it):
 * late enough that the replies of the request that dropped the buffers are
 * posted first (on a user thread: that the caller's code that saw the new
 * generation has returned, and the other views of the thread, a second
 * database or a close, have dropped theirs). The timer is unref'd.
 */
export function collectDroppedBuffers(delayMs = 50): void {
  if (pending !== undefined) return;
  pending = setTimeout(() => {
    pending = undefined;
    collectNow();
  }, delayMs);
  pending.unref();
}

/**
 * Runs the collection collectDroppedBuffers scheduled now, if one is pending:
 * before a long synchronous step (the writer's idle snapshot) that would
 * otherwise delay its timer.
 */
export function collectPendingNow(): void {
  if (pending === undefined) return;
  clearTimeout(pending);
  pending = undefined;
  collectNow();
}

/**
 * A user thread's view dropped a generation of `bytes` (SharedView.onDrop):
 * schedules a collection once this thread's drops since its last one reach
 * COLLECT_MIN_DROPPED_BYTES.
 */
export function buffersDropped(bytes: number): void {
  droppedBytes += bytes;
  if (droppedBytes >= COLLECT_MIN_DROPPED_BYTES) collectDroppedBuffers();
}
