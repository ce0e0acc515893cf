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
 * milliseconds once per compaction. It is never run on a user's thread (the
 * opening thread, attached threads): their heaps are the application's.
 *
 * `gc` is exposed by toggling V8's expose-gc flag around the creation of one
 * context (flags are read when a context is created), unless the process was
 * started with --expose-gc already; the flag is set back at once, so contexts
 * the application creates later do not see a `gc` global because of us.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

let gc: (() => void) | null | undefined;
let pending: ReturnType<typeof setTimeout> | undefined;

/**
 * One full collection now. The pool readers use it: piscina's threads wait for
 * tasks in Atomics.wait, so a timer of theirs runs only when a task arrives.
 * A heap of a few MiB is collected in about a millisecond, paid by the first
 * read after a compaction on each reader thread.
 */
export function collectNow(): void {
  if (gc === undefined) {
    const exposed = (globalThis as { gc?: () => void }).gc;
    if (typeof exposed === 'function') {
      gc = exposed;
    } else {
      try {
        v8.setFlagsFromString('--expose-gc');
        gc = vm.runInNewContext('gc') as () => void;
      } catch {
        gc = null;
      } finally {
        v8.setFlagsFromString('--no-expose-gc');
      }
    }
  }
  gc?.();
}

/**
 * Schedules one full collection `delayMs` from now (calls meanwhile share it):
 * late enough that the replies of the request that dropped the buffers are
 * posted first. The timer is unref'd.
 */
export function collectDroppedBuffers(delayMs = 50): void {
  if (pending !== undefined) return;
  pending = setTimeout(() => {
    pending = undefined;
    collectNow();
  }, delayMs);
  pending.unref();
}
