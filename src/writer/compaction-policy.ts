import { DATA_START, FORMAT_VERSION } from '../format/constants.js';
import type { LogState } from '../log/log-state.js';
import type { CompactReport } from '../types.js';

/**
 * compact() without `force` rewrites the log only when at least this share of
 * its record bytes would be dropped (docs/DESIGN.md, "Compaction"): a rewrite
 * costs the whole log in reads and writes, so reclaiming a few percent of it
 * is not worth one.
 */
export const COMPACT_MIN_RECLAIM_RATIO = 0.2;
/** A log smaller than this is always rewritten: it takes milliseconds, and callers expect the new file. */
export const COMPACT_ALWAYS_BELOW_BYTES = 4 << 20;

/**
 * Bytes a compaction would drop now: superseded, removed and framing records
 * (deadBytes), plus the live records whose deadline passed and that no sweep
 * removed yet (the sweep keeps those few, so counting them is cheap).
 */
export function reclaimableBytes(state: LogState, now: number): number {
  return state.deadBytes + state.expiredPending(now).bytes;
}

/**
 * The report of a compaction not done, or undefined when the log is to be
 * rewritten: it is small, in an older format (compaction upgrades it), or
 * has at least COMPACT_MIN_RECLAIM_RATIO of its record bytes to reclaim.
 */
export function skipReport(state: LogState, end: number, formatVersion: number, now: number): CompactReport | undefined {
  if (end < COMPACT_ALWAYS_BELOW_BYTES || formatVersion < FORMAT_VERSION) return undefined;
  if (reclaimableBytes(state, now) >= (end - DATA_START) * COMPACT_MIN_RECLAIM_RATIO) return undefined;
  return { bytesBefore: end, bytesAfter: end, keysKept: state.index.live, deadBytesDropped: 0, durationMs: 0, skipped: true };
}
