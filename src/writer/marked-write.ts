import { serializeError, type SerializedError } from '../errors.js';
import type { MarkedWriteOutcome } from '../protocol.js';
import type { FlushDone } from './group-flush.js';

export type { MarkedWriteOutcome } from '../protocol.js';

export interface MarkedWriteSteps {
  /** Appends framed records (file first, then index); throws when the engine refuses. */
  append(bytes: Uint8Array): Uint8Array | undefined;
  /** The group flusher's request: `done` runs once the records appended so far are durable (or not). */
  requestFlush(done: FlushDone): void;
}

/**
 * Applies a write batch that carries flush marks (byte offsets, ascending), then
 * calls `finished` once every mark's flush has settled.
 *
 * Under every policy the whole batch goes in one pwrite, then one flush request
 * per mark, in order. The first request covers every mark's records, so under
 * onEachFlush it pays the one fdatasync and the requests after it find nothing
 * unsynced and are answered at once (flush-ahead's marks and the flushes of
 * async producers that wrote in one tick share a sync); group counts the marks
 * towards maxBatch and answers them with its shared sync; writeThrough answers
 * at once (O_DSYNC). Syncing per mark instead would buy nothing: the one reply
 * leaves after the last mark settles, so every flush of the batch would wait
 * for all the syncs (docs/DESIGN.md, "Flush policies and group commit").
 *
 * A failed sync poisons the engine: the request that met it gets its error,
 * and every later request syncs again (the engine reports the failure rather
 * than nothing to do), so no mark after it is answered as durable.
 * A refused append throws before anything is requested (the caller replies
 * with the plain error).
 */
export function applyMarkedWrite(batch: Uint8Array, marks: readonly number[], steps: MarkedWriteSteps, finished: (outcome: MarkedWriteOutcome) => void): void {
  const existed = steps.append(batch);
  const syncErrors: (SerializedError | null)[] = marks.map(() => null);
  let anySyncFailed = false;
  let unsettled = marks.length;
  let requesting = true;

  const finish = (): void => {
    const outcome: MarkedWriteOutcome = { existed };
    if (anySyncFailed) outcome.syncErrors = syncErrors;
    finished(outcome);
  };
  for (let i = 0; i < marks.length; i++) {
    steps.requestFlush((error) => {
      if (error !== undefined) {
        syncErrors[i] = serializeError(error);
        anySyncFailed = true;
      }
      if (--unsettled === 0 && !requesting) finish();
    });
  }
  requesting = false;
  if (unsettled === 0) finish();
}
