import { EmdbError, ErrorCode } from '../errors.js';
import type { SnapshotLimits } from '../shm/sorted-writer.js';

/** `rangeSnapshotLimit` of OpenOptions: what one range iterator may hold alive (docs/DESIGN.md, "Range scans"). */
export interface RangeSnapshotLimit {
  /** Past this age (ms since the call that created it) an iterator fails; 0 = no limit. Default 0. */
  maxAgeMs?: number;
  /**
   * Bytes of shared buffers the iterator keeps alive that the database itself
   * no longer uses (replaced runs and tails, a pre-compaction mirror and
   * index); past it the iterator fails; 0 = no limit. Default 1 GiB.
   */
  maxPinnedBytes?: number;
}

export const DEFAULT_MAX_PINNED_BYTES = 1 << 30;

function invalid(message: string): EmdbError {
  return new EmdbError(ErrorCode.INVALID_CONFIG, message);
}

/** Validates rangeScans / rangeSnapshotLimit; undefined when range scans are off. */
export function resolveRangeScans(rangeScans: unknown, limit: unknown): SnapshotLimits | undefined {
  if (rangeScans !== undefined && typeof rangeScans !== 'boolean') throw invalid('rangeScans must be a boolean');
  if (limit !== undefined && (typeof limit !== 'object' || limit === null || Array.isArray(limit))) {
    throw invalid('rangeSnapshotLimit must be an object { maxAgeMs?, maxPinnedBytes? }');
  }
  const l = (limit ?? {}) as Record<string, unknown>;
  for (const k of Object.keys(l)) {
    if (k !== 'maxAgeMs' && k !== 'maxPinnedBytes') throw invalid(`unknown option rangeSnapshotLimit.${k}`);
  }
  const count = (name: string, v: unknown, dflt: number): number => {
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw invalid(`rangeSnapshotLimit.${name} must be an integer >= 0`);
    return v;
  };
  const limits = { maxAgeMs: count('maxAgeMs', l.maxAgeMs, 0), maxPinnedBytes: count('maxPinnedBytes', l.maxPinnedBytes, DEFAULT_MAX_PINNED_BYTES) };
  return rangeScans === true ? limits : undefined;
}
