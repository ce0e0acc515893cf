import fs from 'node:fs';
import { DATA_START, MAX_KEY_BYTES, MAX_VALUE_BYTES, RECORD_HEADER_SIZE } from '../format/constants.js';
import { nativeCrc32 } from './native-crc.js';
import { recordFlags, recordKeyLen, recordNamespace, recordValueLen, storedPayloadSize } from '../format/record-fields.js';
import { FRAME_BYTES, FrameFiller, FrameReader, type FramePoolSpec, pageOf } from './frame-pool.js';
import { GenerationRetired } from './frame-records.js';
import { GenerationFileWord } from './layout.js';
import type { LazySpec } from './lazy-pages.js';
import { MirrorView, MirrorWriter } from './mirror.js';
import { RecordFetch, type ReadAt } from './record-fetch.js';

/**
 * One log generation read through the bounded page cache (docs/DESIGN.md,
 * "Bounded page cache"): the pool every generation shares, this
 * generation's page table and owner number, and its read descriptor block
 * (rules F1–F5, G1–G3 in layout.ts). Part of the buffer set (R4).
 */
export interface FramedSpec {
  pool: FramePoolSpec;
  /** Int32 page table of this generation (entry p = frame + 1, 0 = not resident); grown by the writer. */
  table: SharedArrayBuffer;
  owner: number;
  /** The generation's descriptor block (record-fetch.ts, G1–G3). */
  file: SharedArrayBuffer;
}

/** Largest linear read logBytes returns at once: its callers continue from where a chunk ends. */
const LINEAR_CHUNK = 1 << 20;

/** One FrameReader per pool per thread: its fence word and arrays are the thread's own (F5). */
const readers = new WeakMap<SharedArrayBuffer, FrameReader>();
function readerFor(pool: FramePoolSpec): FrameReader {
  let reader = readers.get(pool.words);
  if (reader === undefined) {
    reader = new FrameReader(pool);
    readers.set(pool.words, reader);
  }
  return reader;
}

/** One record scratch per thread: every record read copies out of it at once. */
let threadFetch: RecordFetch | undefined;

/** Record copies a caller may hold at once (see FramedReads): step 1's callers hold one in locals while they resolve one or two more. */
const RING = 4;

/**
 * The reads of a framed generation, for both sides: every record is copied
 * out whole, from its frames under their versions (F2) when every page it
 * spans is resident, else from the file with one pread checked against the
 * record's own CRC (record-fetch.ts). A copy, so a caller of step 1's
 * accessor that holds recU8 / recDv while other records are placed or
 * evicted keeps valid bytes.
 *
 * The copies go to a ring of RING scratch buffers, not to a new buffer each:
 * a buffer per record was a malloc outside the JavaScript heap per record
 * read, and the writer, which copies every record it appends, kept ~40 MiB
 * of them in its allocator through a load. A resolution stays valid until
 * RING - 1 later ones. The callers hold at most one record in locals while
 * they resolve another (compaction's run, the writer's apply); the index
 * probe's key comparison (keyEquals) uses a scratch of its own and never
 * moves the ring, however many slots a probe compares.
 */
class FramedReads {
  readonly reader: FrameReader;
  readonly file: Int32Array;
  readonly owner: number;
  private table: Int32Array;
  private readonly header = new Uint8Array(RECORD_HEADER_SIZE);
  private readonly headerDv = new DataView(this.header.buffer);
  private readonly fetch: RecordFetch;
  private readonly ring: Uint8Array[] = [];
  private readonly ringDv: DataView[] = [];
  private ringAt = 0;
  /** keyEquals's scratch: a header and key, never a ring slot. */
  private keyScratch = new Uint8Array(RECORD_HEADER_SIZE + 256);
  private keyDv = new DataView(this.keyScratch.buffer);
  private linearScratch = new Uint8Array(0);
  /** The last record copied: a probe's match and the lookup's value read resolve the same LSN twice. */
  lastLsn = -1;
  lastU8: Uint8Array = new Uint8Array(0);
  lastDv: DataView = new DataView(new ArrayBuffer(0));
  /** Records served from frames, and read from the file (stats and tests). */
  hits = 0;
  misses = 0;

  constructor(
    readonly spec: FramedSpec,
    reader: FrameReader,
    read?: ReadAt,
  ) {
    this.reader = reader;
    this.file = new Int32Array(spec.file);
    this.owner = spec.owner;
    this.table = new Int32Array(spec.table, 0, spec.table.byteLength >> 2);
    this.fetch = read ? new RecordFetch(read) : (threadFetch ??= new RecordFetch(fs.readSync));
    for (let i = 0; i < RING; i++) {
      const u8 = new Uint8Array(4096);
      this.ring.push(u8);
      this.ringDv.push(new DataView(u8.buffer));
    }
  }

  /** Copies the record at `lsn` into the next ring slot (lastU8 / lastDv). Throws GenerationRetired when this generation's file is closed (G3). */
  copyRecord(lsn: number): void {
    if (lsn === this.lastLsn) return;
    const slot = (this.ringAt + 1) % RING;
    let total = -1;
    if (this.reader.copyOut(this.tableFor(lsn + RECORD_HEADER_SIZE), this.owner, lsn, RECORD_HEADER_SIZE, this.header, 0)) {
      const dv = this.headerDv;
      const keyLen = recordKeyLen(dv, 0);
      const valueLen = recordValueLen(dv, 0);
      // Confirmed bytes of a record's page hold its real lengths (F2); checked anyway, so no bytes but a record's size a buffer.
      total = keyLen <= MAX_KEY_BYTES && valueLen <= MAX_VALUE_BYTES ? RECORD_HEADER_SIZE + storedPayloadSize(recordFlags(dv, 0), keyLen, valueLen) : -1;
      if (total > 0 && !this.reader.copyOut(this.tableFor(lsn + total), this.owner, lsn, total, this.slotOf(slot, total), 0)) total = -1;
    }
    if (total < 0) {
      this.misses++;
      total = this.fetch.fetch(this.file, lsn);
      if (total < 0) throw new GenerationRetired();
      this.slotOf(slot, total).set(this.fetch.bytes.subarray(0, total));
    } else {
      this.hits++;
    }
    this.ringAt = slot;
    this.lastLsn = lsn;
    this.lastU8 = this.ring[slot]!;
    this.lastDv = this.ringDv[slot]!;
  }

  /**
   * The probe's comparison: true when the record at `lsn` is of `namespace`
   * with key bytes[start, start + len). Reads the header and key only, into
   * its own scratch (or the fetched record), so the ring does not move.
   */
  keyEquals(lsn: number, namespace: number, bytes: Uint8Array, start: number, len: number): boolean {
    const need = RECORD_HEADER_SIZE + len;
    if (this.keyScratch.length < need) {
      this.keyScratch = new Uint8Array(need);
      this.keyDv = new DataView(this.keyScratch.buffer);
    }
    let rec = this.keyScratch;
    let dv = this.keyDv;
    if (!this.reader.copyOut(this.tableFor(lsn + need), this.owner, lsn, need, rec, 0)) {
      if (this.fetch.fetch(this.file, lsn) < 0) throw new GenerationRetired();
      rec = this.fetch.bytes;
      dv = this.fetch.dv;
    }
    if (recordKeyLen(dv, 0) !== len || recordNamespace(dv, 0) !== namespace) return false;
    for (let i = 0; i < len; i++) if (rec[RECORD_HEADER_SIZE + i] !== bytes[start + i]) return false;
    return true;
  }

  /** Ring slot `slot`, grown to hold `len` bytes. */
  private slotOf(slot: number, len: number): Uint8Array {
    if (this.ring[slot]!.length >= len) return this.ring[slot]!;
    let size = this.ring[slot]!.length;
    while (size < len) size *= 2;
    const u8 = new Uint8Array(size);
    this.ring[slot] = u8;
    this.ringDv[slot] = new DataView(u8.buffer);
    return u8;
  }

  /**
   * Up to `maxLen` raw log bytes at `lsn` (at most 1 MiB; callers continue
   * from where it ends; valid until the next call): from frames when resident, else one pread, unchecked
   * (linear readers check what they read themselves: prefix CRC, backup's
   * verification).
   */
  linear(lsn: number, maxLen: number, readRaw: (into: Uint8Array, position: number) => number): Uint8Array {
    const n = Math.min(maxLen, LINEAR_CHUNK);
    // One scratch, valid until the next call: every linear reader consumes a chunk before it asks for the next
    // (a buffer per call left the writer's allocator holding a log's worth after an idle snapshot hashed it).
    if (this.linearScratch.length < n) this.linearScratch = new Uint8Array(Math.min(LINEAR_CHUNK, Math.max(n, this.linearScratch.length * 2)));
    const out = this.linearScratch.subarray(0, n);
    if (this.reader.copyOut(this.tableFor(lsn + n), this.owner, lsn, n, out, 0)) return out;
    const got = readRaw(out, lsn);
    return got < n ? out.subarray(0, got) : out;
  }

  /** The page table, re-viewed when the writer has grown it past this thread's view. */
  private tableFor(end: number): Int32Array {
    if (pageOf(end) < this.table.length) return this.table;
    const sab = this.spec.table;
    if (sab.byteLength >> 2 !== this.table.length) this.table = new Int32Array(sab, 0, sab.byteLength >> 2);
    return this.table;
  }
}

/** pread through a generation's descriptor block (G1); -1 when it was retired. */
function readThroughFile(file: Int32Array, into: Uint8Array, position: number): number {
  Atomics.add(file, GenerationFileWord.IN_FLIGHT, 1);
  try {
    const fd = Atomics.load(file, GenerationFileWord.FD);
    if (fd < 0) throw new GenerationRetired();
    let done = 0;
    while (done < into.length) {
      const n = fs.readSync(fd, into, done, into.length - done, position + done);
      if (n <= 0) break;
      done += n;
    }
    return done;
  } finally {
    Atomics.sub(file, GenerationFileWord.IN_FLIGHT, 1);
  }
}

/**
 * A reader thread's view of a framed generation: step 1's accessor, served
 * by copies (FramedReads). recordAt and residentRecordAt are the same here:
 * nothing is loaded into shared memory by a reader (only the writer fills
 * frames, F1), so there is no lazy range to stay out of.
 */
export class FramedView extends MirrorView {
  private readonly reads: FramedReads;

  constructor(readonly framed: FramedSpec) {
    super([]);
    this.reads = new FramedReads(framed, readerFor(framed.pool));
    this.stableRecords = false;
  }

  override shareable(): { segments: SharedArrayBuffer[]; framed: FramedSpec } {
    return { segments: [], framed: this.framed };
  }

  override recordAt(lsn: number): number {
    const reads = this.reads;
    reads.copyRecord(lsn);
    this.recU8 = reads.lastU8;
    this.recDv = reads.lastDv;
    return 0;
  }

  override residentRecordAt(lsn: number): number {
    return this.recordAt(lsn);
  }

  override coverRecord(end: number): boolean {
    return end <= this.recU8.length;
  }

  override keyEquals(lsn: number, namespace: number, bytes: Uint8Array, start: number, len: number): boolean {
    if (!this.reads.keyEquals(lsn, namespace, bytes, start, len)) return false;
    // The value follows the key in the copy residentRecordAt makes (offset 0).
    this.keyEnd = RECORD_HEADER_SIZE + len;
    return true;
  }

  override logBytes(lsn: number, maxLen: number): Uint8Array {
    const file = this.reads.file;
    return this.reads.linear(lsn, maxLen, (into, position) => readThroughFile(file, into, position));
  }

  /** Records served from frames and from the file by this view. */
  get cacheHits(): number {
    return this.reads.hits;
  }

  get cacheMisses(): number {
    return this.reads.misses;
  }
}

/**
 * The writer's side of a framed generation. Appends go to the file (the
 * engine's own write) and here into frames (F1, F3): the page the log ends in
 * is pinned, so the next append finds its first bytes, and every page an
 * append fills is placed as it is written, so recent writes stay hot. The
 * writer's own reads are copies too (from frames, else its own pread), so an
 * apply that holds a record while another is placed keeps valid bytes.
 * Segments, lazy pages and the open's fill and walk do not exist here: a
 * generation is framed only once open or compaction has built it.
 */
export class FramedWriter extends MirrorWriter {
  private readonly reads: FramedReads;
  private readonly filler: FrameFiller;
  private table: Int32Array;
  /** The frame of the page the log ends in (pinned), and that page. */
  private tailFrame = -1;
  private tailPage = -1;

  constructor(
    readonly framed: FramedSpec,
    filler: FrameFiller,
    private readonly readFd: number,
    private readonly read: ReadAt,
  ) {
    super([]);
    this.stableRecords = false;
    this.filler = filler;
    this.reads = new FramedReads(framed, filler, read);
    this.table = new Int32Array(framed.table, 0, framed.table.byteLength >> 2);
    filler.adopt(framed.owner, this.table);
  }

  override shareable(): { segments: SharedArrayBuffer[]; framed: FramedSpec } {
    return { segments: [], framed: this.framed };
  }

  override recordAt(lsn: number): number {
    const reads = this.reads;
    reads.copyRecord(lsn);
    this.recU8 = reads.lastU8;
    this.recDv = reads.lastDv;
    return 0;
  }

  override residentRecordAt(lsn: number): number {
    return this.recordAt(lsn);
  }

  override coverRecord(end: number): boolean {
    return end <= this.recU8.length;
  }

  override keyEquals(lsn: number, namespace: number, bytes: Uint8Array, start: number, len: number): boolean {
    if (!this.reads.keyEquals(lsn, namespace, bytes, start, len)) return false;
    this.keyEnd = RECORD_HEADER_SIZE + len;
    return true;
  }

  override logBytes(lsn: number, maxLen: number): Uint8Array {
    return this.reads.linear(lsn, maxLen, (into, position) => this.readRaw(into, position));
  }

  override slice(lsn: number, len: number): Uint8Array {
    const out = new Uint8Array(len);
    for (let at = 0; at < len; ) {
      const chunk = this.logBytes(lsn + at, len - at);
      if (chunk.length === 0) break;
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  }

  override extendTo(): void {}

  override reserve(): boolean {
    return false;
  }

  override fill(): void {
    throw new Error('a framed generation is never filled: open and compaction build it before it is framed');
  }

  override walkAt(): number {
    throw new Error('a framed generation is never walked: open and compaction build it before it is framed');
  }

  override rewritten(): void {
    throw new Error('a framed generation is never rewritten in place');
  }

  override writeRecords(lsn: number, batch: Uint8Array): boolean {
    this.write(lsn, batch);
    return false;
  }

  /**
   * Places appended bytes (at or past the end of the log, F3) page by page:
   * into the frame the page already has, else a new frame, filled from the
   * file first when the page's earlier bytes are not in hand.
   */
  override write(lsn: number, bytes: Uint8Array): void {
    // A record copied earlier may have been at these LSNs past the end (an append rolled back by a full disk).
    this.reads.lastLsn = -1;
    const end = lsn + bytes.length;
    for (let at = lsn; at < end; ) {
      const page = pageOf(at);
      const inPage = at - page * FRAME_BYTES;
      const n = Math.min(end - at, FRAME_BYTES - inPage);
      const part = bytes.subarray(at - lsn, at - lsn + n);
      this.growTable(page);
      const resident = Atomics.load(this.table, page) - 1;
      if (resident >= 0) {
        this.filler.append(resident, inPage, part);
      } else if (inPage === 0) {
        this.place(page, part);
      } else {
        const whole = new Uint8Array(inPage + n);
        this.readRaw(whole.subarray(0, inPage), page * FRAME_BYTES);
        whole.set(part, inPage);
        this.place(page, whole);
      }
      at += n;
    }
    this.pinTail(pageOf(end));
  }

  /**
   * Places page `page` read back from the file when its bytes match the
   * boundary CRCs (`boundaries[p]`: the CRC of the log before page p, known
   * up to `covered`): the warm-up fills free frames this way. A page that does
   * not match is left out: a read of a record in it meets the damage through
   * the record's own CRC, with its offset. False when nothing was placed.
   */
  warmPage(page: number, boundaries: readonly number[], covered: number): boolean {
    if (page + 1 >= boundaries.length || (page + 1) * FRAME_BYTES > covered) return false;
    this.growTable(page);
    if (Atomics.load(this.table, page) !== 0) return false;
    const bytes = (this.pageScratch ??= new Uint8Array(FRAME_BYTES));
    if (this.readRaw(bytes, page * FRAME_BYTES) < FRAME_BYTES) return false;
    // The header pages are not part of the hashed log: boundary 0's CRC starts at DATA_START.
    const from = Math.max(0, DATA_START - page * FRAME_BYTES);
    if (nativeCrc32()(bytes.subarray(from), boundaries[page]) >>> 0 !== boundaries[page + 1]! >>> 0) return false;
    this.place(page, bytes);
    return true;
  }

  private pageScratch: Uint8Array | undefined;
  /** The warm-up's next page, and whether it has ended (framed-generations.ts). */
  warmNext = 0;
  warmDone = false;

  /** Frees every frame of this generation (compaction replaced it, or the database closes). */
  releaseFrames(): void {
    this.tailFrame = -1;
    this.filler.release(this.framed.owner);
  }

  get cacheHits(): number {
    return this.reads.hits;
  }

  get cacheMisses(): number {
    return this.reads.misses;
  }

  private place(page: number, bytes: Uint8Array): void {
    this.filler.place(this.framed.owner, page, bytes);
  }

  /** Pins the frame of the page the log now ends in; the previous tail page may be evicted from now on. */
  private pinTail(page: number): void {
    if (page === this.tailPage && this.tailFrame >= 0) return;
    if (this.tailFrame >= 0) this.filler.unpin(this.tailFrame);
    this.tailPage = page;
    this.growTable(page);
    const frame = Atomics.load(this.table, page) - 1;
    this.tailFrame = frame;
    if (frame >= 0) this.filler.pin(frame);
  }

  /**
   * Makes the page the log ends in resident and pinned before the first
   * append: its bytes before `end` come from the file (open, compaction's
   * new log).
   */
  startAt(end: number): void {
    const page = pageOf(end);
    this.growTable(page);
    if (Atomics.load(this.table, page) === 0) {
      const bytes = new Uint8Array(end - page * FRAME_BYTES);
      this.readRaw(bytes, page * FRAME_BYTES);
      this.place(page, bytes);
    }
    this.pinTail(page);
  }

  private growTable(page: number): void {
    if (page < this.table.length) return;
    const sab = this.framed.table;
    const need = (page + 1) * 4;
    if (need > sab.byteLength) sab.grow(Math.min(sab.maxByteLength, Math.max(need, sab.byteLength * 2)));
    this.table = new Int32Array(sab, 0, sab.byteLength >> 2);
    this.filler.adopt(this.framed.owner, this.table);
  }

  private readRaw(into: Uint8Array, position: number): number {
    let done = 0;
    while (done < into.length) {
      const n = this.read(this.readFd, into, done, into.length - done, position + done);
      if (n <= 0) break;
      done += n;
    }
    return done;
  }
}

/** The view of a buffer set's log for this thread: framed, or the whole-log mirror (lazily loaded or not). */
export function mirrorViewOf(set: { segments: SharedArrayBuffer[]; lazy?: LazySpec; framed?: FramedSpec }): MirrorView {
  return set.framed ? new FramedView(set.framed) : new MirrorView(set.segments, set.lazy);
}

/**
 * Rule G2's pins, held by the object a long read keeps (an iteration's scan
 * source, a range snapshot): released when the read ends (unpinGeneration)
 * or, for one abandoned without an end, when that object is collected, so a
 * compaction's old descriptor is never held for the database's life.
 */
const pins = new FinalizationRegistry<Int32Array>((file) => {
  Atomics.sub(file, GenerationFileWord.PINS, 1);
});

/**
 * Pins the framed generation `mirror` reads (G2) for as long as `holder`
 * lives or until unpinGeneration(holder). False when that generation was
 * already retired: the caller syncs its view and starts again on the
 * published one (G3). A whole-log mirror needs no pin: true.
 */
export function pinGeneration(holder: object, mirror: MirrorView): boolean {
  if (!(mirror instanceof FramedView)) return true;
  const file = new Int32Array(mirror.framed.file);
  Atomics.add(file, GenerationFileWord.PINS, 1);
  // Loaded after the add (seq-cst): a retirement this misses comes later and sees the pin (G1).
  if (Atomics.load(file, GenerationFileWord.FD) < 0) {
    Atomics.sub(file, GenerationFileWord.PINS, 1);
    return false;
  }
  pins.register(holder, file, holder);
  return true;
}

/** Ends a pin pinGeneration(holder, …) took; nothing when there is none. */
export function unpinGeneration(holder: object, mirror: MirrorView | undefined): void {
  if (!(mirror instanceof FramedView) || !pins.unregister(holder)) return;
  Atomics.sub(new Int32Array(mirror.framed.file), GenerationFileWord.PINS, 1);
}
