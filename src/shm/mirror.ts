import { MAX_RECORD_BYTES, RECORD_HEADER_SIZE } from '../format/constants.js';
import { recordFlags, recordKeyLen, recordKeyStart, recordNamespace, recordValueLen, storedPayloadSize } from '../format/record-fields.js';
import { LazyPages, type LazySpec, type ReadAt } from './lazy-pages.js';
import { TWO_32 } from '../format/u64.js';
import { SEGMENT_SPAN, segmentOf, segmentOffset } from './layout.js';

/** Largest size a segment buffer can reach: its LSN span plus one record that runs past it. */
export const SEGMENT_MAX_BYTES = SEGMENT_SPAN + MAX_RECORD_BYTES;

/**
 * What the accessor's fields hold before the first resolution, and for a
 * segment this thread's buffer set lacks. Fixed-length views over a shared
 * buffer have the same map as the segments' views (a length-tracking view
 * would not, and every read of the fields would turn polymorphic).
 */
const NO_BYTES = new SharedArrayBuffer(0);
const NO_U8 = new Uint8Array(NO_BYTES, 0, 0);
const NO_DV = new DataView(NO_BYTES, 0, 0);

/**
 * Read side of the shared mirror of the log: segment k holds the bytes of the LSN
 * range [k * 2^30, ...) and every record that starts in it, whole (layout.ts).
 *
 * Three kinds of access, kept apart because the bounded page cache (DESIGN.md,
 * "Bounded page cache") changes each differently:
 *  - a record that an index slot, a sorted run, a deadline or a walk of the
 *    log points to: `recordAt` / `residentRecordAt` (and `keyEquals`, the
 *    probe's comparison). Only these know where a record's bytes live, so
 *    frames will change them and not their callers;
 *  - linear reads of raw log bytes that are not taken as records (prefix CRC,
 *    backup, compaction's output, a sealed unit's region): `logBytes`;
 *  - the writer's own bytes: `MirrorWriter` (appends, growth, the open's fill
 *    and walk over what it just read).
 *
 * Views are fixed-length views over the growable buffers, re-created when a
 * segment has grown past them: on Node 20, element access through a
 * length-tracking view is ~16x slower (docs/DESIGN.md). Growth needs no message:
 * every thread sees the buffer's new byteLength and refreshes lazily.
 */
export class MirrorView {
  protected readonly u8: Uint8Array[] = [];
  protected readonly dv: DataView[] = [];
  /** A lazily opened log: pages of [DATA_START, tail) are loaded on first use (lazy-pages.ts); undefined once a generation is wholly in memory. */
  pages: LazyPages | undefined;
  /**
   * The view holding the record the last `recordAt` / `residentRecordAt` /
   * `keyEquals` resolved (the same buffer as `recDv`). Fields rather than a
   * returned object: this is the getSync hit path, which allocates nothing but
   * the value. Each resolution replaces them, and keyEquals runs inside every
   * index probe, so a caller that probes while it reads a record keeps them in
   * locals.
   */
  recU8: Uint8Array = NO_U8;
  recDv: DataView = NO_DV;
  /** A resolved record's bytes never change while this view is held (R3); a framed view's copies are reused (framed-mirror.ts). */
  stableRecords = true;
  /** The segment recU8 / recDv are a view of (coverRecord refreshes them). */
  private recSeg = 0;

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
   * The record at `lsn`, made resident first (a lazily opened log loads and
   * checks the pages it spans, throwing ERR_EMDB_CORRUPTION for a damaged
   * one): sets recU8 / recDv to the view that holds it and returns its offset
   * there (the view starts at LSN `lsn - offset`). Every read of a record
   * that was in the log before the caller's own work (a slot's, a sorted
   * entry's, a deadline's, a replaced key's) takes this one.
   *
   * On a reader thread the view may predate a growth of the segment:
   * check `coverRecord` before reading past what is already covered.
   */
  recordAt(lsn: number): number {
    if (this.pages !== undefined) this.ensureRecord(lsn);
    return this.residentRecordAt(lsn);
  }

  /**
   * recordAt without the page loading, for a record the caller knows is
   * resident and must not load here: one it (or a probe) has just passed to
   * recordAt, one past the lazy range (appended or replayed by this writer,
   * rule L4), or one read by a request that loaded every page first
   * (compaction, backup, the sorted build). Loading there would move where a
   * damaged page is met, e.g. into an apply whose bytes are already in the
   * file (DESIGN.md, "Lazy log pages").
   */
  residentRecordAt(lsn: number): number {
    const seg = segmentOf(lsn);
    this.recSeg = seg;
    this.recU8 = this.u8[seg] ?? NO_U8;
    this.recDv = this.dv[seg] ?? NO_DV;
    return segmentOffset(lsn);
  }

  /**
   * Makes recU8 / recDv (the last resolved record's view) cover bytes up to
   * offset `end`, re-creating them if the segment has grown since; false when
   * the buffer this thread holds does not reach `end` (a reader then treats
   * the record as not there). The writer's views are always current.
   */
  coverRecord(end: number): boolean {
    if (end <= this.recU8.length) return true;
    const seg = this.recSeg;
    const covered = this.cover(seg, end);
    this.recU8 = this.u8[seg] ?? NO_U8;
    this.recDv = this.dv[seg] ?? NO_DV;
    return covered;
  }

  /** Loads the pages of the whole record at `lsn`: its header first (the record's size is in it), then the rest. */
  private ensureRecord(lsn: number): void {
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
  protected cover(seg: number, end: number): boolean {
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
   * span of the segment `lsn` is in (the caller continues from there), pages
   * loaded first: for readers that take the log as bytes (prefix CRC, backup,
   * compaction's output, a sealed unit's region), not as records. Only bytes
   * below APPLIED_LSN are meaningful.
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
   * bytes[start, start + len): the probe's comparison, through recordAt. After
   * a true result recU8 / recDv hold the record (resolve it again with
   * residentRecordAt for its offset) and keyEnd is where its value starts.
   * Mirror bytes are immutable once published (R3), so a plain byte loop is
   * safe here.
   */
  keyEquals(lsn: number, namespace: number, bytes: Uint8Array, start: number, len: number): boolean {
    const off = this.recordAt(lsn);
    if (!this.coverRecord(off + RECORD_HEADER_SIZE)) return false;
    const dv = this.recDv;
    if (recordKeyLen(dv, off) !== len) return false;
    if (recordNamespace(dv, off) !== namespace) return false;
    let k = recordKeyStart(dv, off);
    if (!this.coverRecord(k + len)) return false;
    const u8 = this.recU8;
    for (let i = 0; i < len; i++, k++) if (u8[k] !== bytes[start + i]) return false;
    this.keyEnd = k;
    return true;
  }

  /**
   * Offset in the record's view just past the key of the last record keyEquals
   * matched: where the value starts. A field, so a lookup does not read the
   * header's flags and key length a second time.
   */
  keyEnd = 0;
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
 * Its own bytes (appends, the header area, the open's fill and walk) are
 * reached by LSN range here, not through recordAt: they are never lazy, and
 * when frames come they are the writer's to place.
 */
export class MirrorWriter extends MirrorView {
  /** The view walkAt last resolved (a segment, overflow area included). */
  walkU8: Uint8Array = NO_U8;
  walkDv: DataView = NO_DV;

  constructor(buffers: SharedArrayBuffer[]) {
    super(buffers);
  }

  /** The log's file now holds its bytes up to `end` (an append's write returned); a sealed framed log publishes them (U2). */
  onFile(_end: number): void {}

  /** Grows the segments to hold the log bytes [0, size) (and each segment's overflow) without writing them: a lazily opened log. */
  extendTo(size: number): void {
    for (let start = 0; start < size; start += SEGMENT_SPAN) this.reserve(start, Math.min(size, start + SEGMENT_MAX_BYTES) - start);
  }

  /**
   * Reads the log bytes [from, fileSize) into every segment that mirrors them:
   * its own, and the previous one's overflow area. `read(into, at, len,
   * position)` fills into[at, at + len) from the file at `position`.
   */
  fill(from: number, fileSize: number, read: (into: Uint8Array, at: number, len: number, position: number) => void): void {
    for (let seg = Math.max(0, segmentOf(from) - 1); seg * SEGMENT_SPAN < fileSize; seg++) {
      const base = seg * SEGMENT_SPAN;
      const start = Math.max(from, base);
      const end = Math.min(fileSize, base + SEGMENT_MAX_BYTES);
      if (end <= start) continue;
      this.reserve(base, end - base);
      read(this.u8[seg]!, start - base, end - start, start);
    }
  }

  /**
   * The open's walks over log bytes it has just read into the mirror and checks
   * itself (recovery's replay and damage scan, an encrypted prefix's check and
   * in-place decryption): sets walkU8 / walkDv to the whole segment holding
   * `lsn` and returns its offset there (the segment starts at LSN
   * `lsn - offset`). Not recordAt: these bytes are not yet known to be records,
   * the walk bounds its checks by the segment's end, and it writes plaintext
   * back into them.
   */
  walkAt(lsn: number): number {
    const seg = segmentOf(lsn);
    this.walkU8 = this.u8[seg]!;
    this.walkDv = this.dv[seg]!;
    return segmentOffset(lsn);
  }

  /**
   * How far past the start of the last walkAt view (LSN `lsn - offset`) the
   * damage scan may trust it before asking for the next one: a segment's span
   * (a record starting in it is whole in it); less for a window (windowed-log.ts).
   */
  get walkSpan(): number {
    return SEGMENT_SPAN;
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

  /**
   * Copies a batch of whole records to `lsn` (room reserved here): in one piece
   * when it ends within its segment's LSN span, else record by record, each
   * into the segment it starts in. True when a segment was added.
   */
  writeRecords(lsn: number, batch: Uint8Array): boolean {
    const len = batch.length;
    if (segmentOffset(lsn) + len <= SEGMENT_SPAN) {
      const added = this.reserve(lsn, len);
      this.write(lsn, batch);
      return added;
    }
    let added = false;
    const dv = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
    for (let off = 0; off < len; ) {
      const size = RECORD_HEADER_SIZE + storedPayloadSize(recordFlags(dv, off), recordKeyLen(dv, off), recordValueLen(dv, off));
      added = this.reserve(lsn + off, size) || added;
      this.write(lsn + off, batch.subarray(off, off + size));
      off += size;
    }
    return added;
  }

  /**
   * After the writer changed `len` bytes at `lsn` in place (a record of a
   * mirror nobody else holds yet): copies them again where a run across the
   * segment span has a second copy (see `write`).
   */
  rewritten(lsn: number, len: number): void {
    if (segmentOffset(lsn) + len > SEGMENT_SPAN) this.write(lsn, this.slice(lsn, len));
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

  /**
   * A view of `len` bytes at `lsn` of what this writer placed itself: the
   * header area (read at open, never lazy) and records it just wrote. Old
   * records are read through recordAt.
   */
  slice(lsn: number, len: number): Uint8Array {
    const off = segmentOffset(lsn);
    return this.u8[segmentOf(lsn)]!.subarray(off, off + len);
  }
}

function newSegment(initialBytes: number): SharedArrayBuffer {
  return new SharedArrayBuffer(Math.min(initialBytes, SEGMENT_MAX_BYTES), { maxByteLength: SEGMENT_MAX_BYTES });
}
