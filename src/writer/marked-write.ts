import { serializeError, type SerializedError } from '../errors.js';
import type { MarkedWriteOutcome } from '../protocol.js';
import type { FlushPolicy } from '../types.js';
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
 *  - onEachFlush: each segment is appended and then flushed before the next one,
 *    so every flush() pays its own fdatasync, as the policy says.
 *  - group and writeThrough: the whole batch goes in one pwrite, then one flush
 *    request per mark: group answers them all with one shared sync (the marks
 *    count towards maxBatch), writeThrough answers at once (O_DSYNC).
 * A failed sync poisons the engine, so under onEachFlush the segments after it
 * are refused: the outcome says how far the batch got.
 */
export function applyMarkedWrite(
  batch: Uint8Array,
  marks: readonly number[],
  policy: FlushPolicy['kind'],
  steps: MarkedWriteSteps,
  finished: (outcome: MarkedWriteOutcome) => void,
): void {
  const existed: Uint8Array[] = [];
  const syncErrors: (SerializedError | null)[] = marks.map(() => null);
  let anySyncFailed = false;
  let unsettled = marks.length;
  let requesting = true;
  let from = 0;
  let refusal: SerializedError | undefined;

  const finish = (): void => {
    const outcome: MarkedWriteOutcome = { existed: concat(existed) };
    if (anySyncFailed) outcome.syncErrors = syncErrors;
    if (refusal) {
      outcome.appliedBytes = from;
      outcome.writeError = refusal;
    }
    finished(outcome);
  };
  const settleMark = (i: number): FlushDone => (error) => {
    if (error !== undefined) {
      syncErrors[i] = serializeError(error);
      anySyncFailed = true;
    }
    if (--unsettled === 0 && !requesting) finish();
  };
  /** Appends up to `to` whatever is not appended yet (group appended it all up front). */
  const appendTo = (to: number): void => {
    if (to <= from) return;
    const part = steps.append(batch.subarray(from, to));
    if (part) existed.push(part);
    from = to;
  };

  let requested = 0;
  try {
    if (policy !== 'onEachFlush') appendTo(batch.length);
    for (; requested < marks.length; requested++) {
      appendTo(marks[requested]!);
      steps.requestFlush(settleMark(requested));
    }
    appendTo(batch.length);
  } catch (err) {
    if (from === 0 && requested === 0) throw err; // nothing happened: the plain error reply
    refusal = serializeError(err);
    // Marks never requested cover refused records: the client rejects their flushes with the refusal.
    unsettled -= marks.length - requested;
  }
  requesting = false;
  if (unsettled === 0) finish();
}

function concat(parts: readonly Uint8Array[]): Uint8Array | undefined {
  if (parts.length <= 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
