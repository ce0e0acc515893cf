import { MAX_RECORD_BYTES, RECORD_HEADER_SIZE } from '../format/constants.js';
import { recordFlags, recordKeyLen, recordKeyStart, recordNamespace, recordValueLen, storedPayloadSize } from '../format/record-fields.js';
import { LazyPages, type LazySpec, type ReadAt } from './lazy-pages.js';
import { TWO_32 } from '../format/u64.js';
import { SEGMENT_SPAN, segmentOf, segmentOffset } from './layout.js';

/** Largest size a segment buffer can reach: its LSN span plus one record that runs past it. */
export const SEGMENT_MAX_BYTES = SEGMENT_SPAN + MAX_RECORD_BYTES;

/**
 * Read side of the shared mirror of the log: segment k holds the bytes of the LSN
 * range [k * 2^30, ...) and every record that starts in it, whole (layout.ts).
 *
 * Views are fixed-length views over the growable buffers, re-created when a
 * segment has grown past them: on Node 20, element access through a
 * length-tracking view is ~16x slower (docs/DESIGN.md). Growth needs no message:
 * every thread sees the buffer's new byteLength and refreshes lazily.
 */
export class MirrorView {
  readonly u8: Uint8Array[] = [];
  readonly dv: DataView[] = [];
  /** A lazily opened log: pages of [DATA_START, tail) are loaded on first use (lazy-pages.ts); undefined once a generation is wholly in memory. */
  pages: LazyPages | undefined;

  constructor(
    readonly buffers: readonly SharedArrayBuffer[],
    lazy?: LazySpec,
    read?: ReadAt,
  ) {
    for (const sab of buffers) {
      this.u8.push(new Uint8Array(sab, 0, sab.byteLength));
      this.dv.push(new DataView(sab, 0, sab.byteLength));
    }
    if (lazy) this.pages = new LazyPages(lazy, buffers, read);
  }

  /** What another thread needs to build the same view: the segments and, for a lazily opened log, its page loader. */
  shareable(): { segments: SharedArrayBuffer[]; lazy?: LazySpec } {
    const lazy = this.pages?.spec;
    return lazy ? { segments: [...this.buffers], lazy } : { segments: [...this.buffers] };
  }

  /**
   * Makes the whole record at `lsn` resident: its header first (the record's
   * size is in it), then the rest. Every reader of a record that the index (or
   * a sorted run) points to calls it before reading the record's bytes.
   */
  ensureRecord(lsn: number): void {
    const pages = this.pages;
    if (pages === undefined || lsn >= pages.lazyEnd) return;
    pages.ensure(lsn, RECORD_HEADER_SIZE);
    const seg = segmentOf(lsn);
    const off = segmentOffset(lsn);
    this.cover(seg, off + RECORD_HEADER_SIZE);
    const dv = this.dv[seg]!;
    pages.ensure(lsn, RECORD_HEADER_SIZE + storedPayloadSize(recordFlags(dv, off), recordKeyLen(dv, off), recordValueLen(dv, off)));
  }

  /** Makes the views of `seg` cover at least `end` bytes, if the buffer has them. */
  cover(seg: number, end: number): boolean {
    const u8 = this.u8[seg];
    if (u8 === undefined) return false;
    if (end <= u8.length) return true;
    const sab = this.buffers[seg]!;
    const len = sab.byteLength;
    this.u8[seg] = new Uint8Array(sab, 0, len);
    this.dv[seg] = new DataView(sab, 0, len);
    return end <= len;
  }

  /**
   * Up to `maxLen` bytes of the log from `lsn`, never past the end of the LSN
   * span of the segment `lsn` is in (the caller continues from there). Only
   * bytes below APPLIED_LSN are meaningful.
   */
  logBytes(lsn: number, maxLen: number): Uint8Array {
    const seg = segmentOf(lsn);
    const off = segmentOffset(lsn);
    const end = off + Math.min(maxLen, SEGMENT_SPAN - off);
    this.pages?.ensure(lsn, end - off);
    this.cover(seg, end);
    return this.u8[seg]!.subarray(off, end);
  }

  /**
   * True when the record at `lsn` belongs to `namespace` and its key equals
   * bytes[start, start + len). Mirror bytes are immutable once published (R3), so
   * a plain byte loop is safe here.
   */
  keyEquals(lsn: number, namespace: number, bytes: Uint8Array, start: number, len: number): boolean {
    if (this.pages !== undefined) this.ensureRecord(lsn);
    const seg = segmentOf(lsn);
    const off = segmentOffset(lsn);
    if (!this.cover(seg, off + RECORD_HEADER_SIZE)) return false;
    const dv = this.dv[seg]!;
    if (recordKeyLen(dv, off) !== len) return false;
    if (recordNamespace(dv, off) !== namespace) return false;
    let k = recordKeyStart(dv, off);
    if (!this.cover(seg, k + len)) return false;
    const u8 = this.u8[seg]!;
    for (let i = 0; i < len; i++, k++) if (u8[k] !== bytes[start + i]) return false;
    this.keyEnd = k;
    return true;
  }

  /**
   * Offset in its segment just past the key of the last record keyEquals
   * matched: where the value starts. A field, so a lookup does not read the
   * header's flags and key length a second time.
   */
  keyEnd = 0;

  /** The view of the segment holding the record at `lsn` (read it at segmentOffset(lsn)). */
  dvAt(lsn: number): DataView {
    return this.dv[segmentOf(lsn)]!;
  }
}

export function lsnLo(lsn: number): number {
  return lsn >>> 0;
}

export function lsnHi(lsn: number): number {
  return Math.floor(lsn / TWO_32) >>> 0;
}

export function lsnOf(lo: number, hi: number): number {
  return (lo >>> 0) + (hi >>> 0) * TWO_32;
}

/**
 * Write side, owned by the writer thread. Growing a segment or adding one is the
 * writer's job alone; only adding a segment changes the buffer set (rule R4).
 */
export class MirrorWriter extends MirrorView {
  constructor(buffers: SharedArrayBuffer[]) {
    super(buffers);
  }

  /** Grows the segments to hold the log bytes [0, size) (and each segment's overflow) without writing them: a lazily opened log. */
  extendTo(size: number): void {
    for (let start = 0; start < size; start += SEGMENT_SPAN) this.reserve(start, Math.min(size, start + SEGMENT_MAX_BYTES) - start);
  }

  static create(initialBytes: number): SharedArrayBuffer[] {
    return [newSegment(initialBytes)];
  }

  /**
   * Makes room for `len` bytes at `lsn` (a whole record or batch of records that
   * starts in one segment). A run that crosses into the next segment's LSN span
   * also gets room there for its overflow (see `write`). Returns true when a new
   * segment was added, i.e. the buffer set changed and must be republished.
   */
  reserve(lsn: number, len: number): boolean {
    const seg = segmentOf(lsn);
    const added = this.room(seg, segmentOffset(lsn) + len);
    const overflow = lsn + len - (seg + 1) * SEGMENT_SPAN;
    return overflow > 0 ? this.room(seg + 1, overflow) || added : added;
  }

  /**
   * Copies bytes to `lsn`; the caller reserved room for the whole run. The part
   * of a run past its segment's LSN span is also copied to the start of the next
   * segment, so segment floor(x / 2^30) holds byte x of the log for every x: a
   * reader reaches a record whole in the segment it starts in, and a linear
   * reader of the log (prefix CRC, backup) walks segment by segment.
   */
  write(lsn: number, bytes: Uint8Array): void {
    const seg = segmentOf(lsn);
    const off = segmentOffset(lsn);
    this.u8[seg]!.set(bytes, off);
    const overflow = off + bytes.length - SEGMENT_SPAN;
    if (overflow > 0) this.u8[seg + 1]!.set(bytes.subarray(bytes.length - overflow), 0);
  }

  /** Segment `seg` exists and holds at least `need` bytes; true when a segment was added. */
  private room(seg: number, need: number): boolean {
    let added = false;
    while (this.buffers.length <= seg) {
      const sab = newSegment(0);
      (this.buffers as SharedArrayBuffer[]).push(sab);
      this.u8.push(new Uint8Array(sab, 0, 0));
      this.dv.push(new DataView(sab, 0, 0));
      added = true;
    }
    const sab = this.buffers[seg]!;
    if (need > sab.byteLength) {
      if (need > SEGMENT_MAX_BYTES) throw new RangeError('mirror segment overflow');
      sab.grow(Math.min(SEGMENT_MAX_BYTES, Math.max(need, sab.byteLength * 2, 1 << 20)));
    }
    this.cover(seg, need);
    return added;
  }

  /** A view of `len` bytes at `lsn`, for pwrite and for record decoding. */
  slice(lsn: number, len: number): Uint8Array {
    const off = segmentOffset(lsn);
    return this.u8[segmentOf(lsn)]!.subarray(off, off + len);
  }
}

function newSegment(initialBytes: number): SharedArrayBuffer {
  return new SharedArrayBuffer(Math.min(initialBytes, SEGMENT_MAX_BYTES), { maxByteLength: SEGMENT_MAX_BYTES });
}
