import { EmdbError, ErrorCode } from '../errors.js';
import { collectRange, pinnedBytes, type Bound, type RangeSnapshot } from '../range/snapshot.js';
import type { SharedView } from '../shm/shared-view.js';
import { storedKeyBytes } from './keys.js';

/** Level range options as abstract-level hands them to the private API (already encoded). */
export interface LevelRange {
  gt?: string | Uint8Array;
  gte?: string | Uint8Array;
  lt?: string | Uint8Array;
  lte?: string | Uint8Array;
}

/** First chunk small (a seek or a 1-entry read costs little), then larger ones. */
const FIRST_CHUNK = 16;
const MAX_CHUNK = 2048;

const OPEN: Bound = { key: undefined, exclusive: false };

/** The range's bounds over stored keys; gte wins over gt and lte over lt, as in abstract-level's suite. */
export function boundsOf(range: LevelRange): { lower: Bound; upper: Bound } {
  const lower = range.gte !== undefined ? { key: storedKeyBytes(range.gte), exclusive: false } : range.gt !== undefined ? { key: storedKeyBytes(range.gt), exclusive: true } : OPEN;
  const upper = range.lte !== undefined ? { key: storedKeyBytes(range.lte), exclusive: false } : range.lt !== undefined ? { key: storedKeyBytes(range.lt), exclusive: true } : OPEN;
  return { lower, upper };
}

/** The value of one stored key in a snapshot (a one-key range), or undefined. */
export function snapshotGet(snap: RangeSnapshot, ns: number, key: Uint8Array, values: boolean): Buffer | undefined {
  const b: Bound = { key, exclusive: false };
  const got = collectRange(snap, ns, b, b, false, 1, values, Date.now());
  if (got.count === 0) return undefined;
  // One entry: count u32, keyLen u32, valueLen u32, key, value (core/scan.ts).
  const dv = new DataView(got.packed);
  const keyLen = dv.getUint32(4, true);
  return Buffer.from(got.packed, 12 + keyLen, dv.getUint32(8, true));
}

/**
 * How a cursor hands out entries: keys and values as Level strings ('utf8'),
 * bytes without the key marker ('buffer'), stored keys with it ('stored'), or
 * not at all (null). Decoding straight from the scanned chunk saves two
 * Buffer objects per entry, which dominate the garbage of a long scan.
 */
export interface CursorOutput {
  keys: 'utf8' | 'buffer' | 'stored' | null;
  values: 'utf8' | 'buffer' | null;
}

export type CursorEntry = [Buffer | string | undefined, Buffer | string | undefined];

/**
 * Walks one range of one snapshot in chunks, resuming strictly after the last
 * key examined; seek() repositions inside the same snapshot. Everything runs
 * on the calling thread: the snapshot's buffers are immutable (src/range/).
 */
export class SnapshotCursor {
  private lower: Bound;
  private upper: Bound;
  private readonly range: { lower: Bound; upper: Bound };
  private buffered: CursorEntry[] = [];
  private at = 0;
  private chunk = FIRST_CHUNK;
  private finished = false;

  constructor(
    private readonly view: SharedView,
    private readonly snap: RangeSnapshot,
    private readonly ns: number,
    range: LevelRange,
    private readonly reverse: boolean,
    private readonly output: CursorOutput,
  ) {
    this.range = boundsOf(range);
    this.lower = this.range.lower;
    this.upper = this.range.upper;
  }

  /** The next entry, or undefined at the end. */
  next(): CursorEntry | undefined {
    if (this.at >= this.buffered.length && !this.fill(this.chunk)) return undefined;
    return this.buffered[this.at++];
  }

  /** Up to `size` entries; fewer only at the end. */
  nextv(size: number): CursorEntry[] {
    const out: CursorEntry[] = [];
    while (out.length < size) {
      if (this.at >= this.buffered.length && !this.fill(Math.max(size - out.length, 1))) break;
      const take = Math.min(size - out.length, this.buffered.length - this.at);
      for (let i = 0; i < take; i++) out.push(this.buffered[this.at++]!);
    }
    return out;
  }

  /** Every remaining entry. */
  all(): CursorEntry[] {
    const out: CursorEntry[] = [];
    for (;;) {
      while (this.at < this.buffered.length) out.push(this.buffered[this.at++]!);
      if (!this.fill(MAX_CHUNK)) return out;
    }
  }

  /**
   * Repositions at the first key >= target (<= target when reversed), never
   * outside the iterator's own range; the snapshot stays the same.
   */
  seek(target: string | Uint8Array): void {
    const key = storedKeyBytes(target);
    this.buffered = [];
    this.at = 0;
    this.chunk = FIRST_CHUNK;
    this.finished = false;
    if (this.reverse) {
      const r = this.range.upper;
      this.lower = this.range.lower;
      this.upper = r.key === undefined || Buffer.compare(key, r.key) < 0 ? { key, exclusive: false } : r;
    } else {
      const r = this.range.lower;
      this.upper = this.range.upper;
      this.lower = r.key === undefined || Buffer.compare(key, r.key) > 0 ? { key, exclusive: false } : r;
    }
  }

  /** Reads the next chunk of at most `max` entries; false when nothing is left. */
  private fill(max: number): boolean {
    this.buffered = [];
    this.at = 0;
    if (this.finished || inverted(this.lower, this.upper)) return false;
    checkSnapshot(this.view, this.snap);
    const { keys, values } = this.output;
    let got;
    try {
      got = collectRange(this.snap, this.ns, this.lower, this.upper, this.reverse, Math.min(max, MAX_CHUNK), values !== null, Date.now());
    } catch (err) {
      throw this.view.closedInstead(err);
    }
    if (got.done) this.finished = true;
    else if (got.last) {
      if (this.reverse) this.upper = { key: got.last, exclusive: true };
      else this.lower = { key: got.last, exclusive: true };
    }
    this.chunk = Math.min(MAX_CHUNK, this.chunk * 4);
    // Layout of got.packed: count u32, then per entry keyLen u32, valueLen u32, key, value.
    const buf = Buffer.from(got.packed);
    const dv = new DataView(got.packed);
    let at = 4;
    for (let i = 0; i < got.count; i++) {
      const keyLen = dv.getUint32(at, true);
      const valueLen = dv.getUint32(at + 4, true);
      const k = at + 8;
      const v = k + keyLen;
      at = v + valueLen;
      this.buffered.push([
        keys === 'utf8' ? buf.toString('utf8', k + 1, v) : keys === 'buffer' ? buf.subarray(k + 1, v) : keys === 'stored' ? buf.subarray(k, v) : undefined,
        values === 'utf8' ? buf.toString('utf8', v, at) : values === 'buffer' ? buf.subarray(v, at) : undefined,
      ]);
    }
    return this.buffered.length > 0;
  }
}

/**
 * ERR_EMDB_SNAPSHOT_TOO_OLD past the database's rangeSnapshotLimit, as for
 * rangeIter: checked per iterator chunk and per read with an explicit snapshot.
 */
export function checkSnapshot(view: SharedView, snap: RangeSnapshot): void {
  const { maxAgeMs, maxPinnedBytes } = snap.manifest;
  if (maxAgeMs > 0 && Date.now() - snap.createdAt > maxAgeMs) {
    throw new EmdbError(ErrorCode.SNAPSHOT_TOO_OLD, `the snapshot is older than rangeSnapshotLimit.maxAgeMs (${maxAgeMs} ms)`);
  }
  if (maxPinnedBytes > 0) {
    view.sync();
    const pinned = pinnedBytes(snap, view);
    if (pinned > maxPinnedBytes) {
      throw new EmdbError(ErrorCode.SNAPSHOT_TOO_OLD, `the snapshot pins ${pinned} bytes of retired buffers, past rangeSnapshotLimit.maxPinnedBytes (${maxPinnedBytes})`);
    }
  }
}

/** Lower bound above upper bound (or equal with an exclusive end): nothing, as in Level. */
function inverted(lo: Bound, hi: Bound): boolean {
  if (lo.key === undefined || hi.key === undefined) return false;
  const c = Buffer.compare(lo.key, hi.key);
  return c > 0 || (c === 0 && (lo.exclusive || hi.exclusive));
}
