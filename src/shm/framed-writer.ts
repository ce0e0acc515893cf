import { DATA_START } from '../format/constants.js';
import { EmdbError, ErrorCode } from '../errors.js';
import { FRAME_BYTES, type FrameFiller, pageOf } from './frame-pool.js';
import { framedKeyEquals, FramedReads, framedRecordAt, type FramedSpec } from './framed-mirror.js';
import { WANTED_BASE, WANTED_SLOTS } from './layout.js';
import { nativeCrc32 } from './native-crc.js';
import type { ReadAt } from './record-fetch.js';
import type { UnitDirectory } from './sealed-file.js';
import { UnsegmentedLog } from './unsegmented-log.js';

/** Bytes a writer-side linear read returns at most (its callers continue from where a chunk ends). */
const LINEAR_CHECK_CHUNK = 1 << 20;

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
export class FramedWriter extends UnsegmentedLog {
  private readonly reads: FramedReads;
  private readonly filler: FrameFiller;
  /** pread of the mirror form (decrypting, for a sealed generation). */
  private readonly read: ReadAt;
  private table: Int32Array;
  /** The frame of the page the log ends in (pinned), and that page. */
  private tailFrame = -1;
  private tailPage = -1;

  constructor(
    readonly framed: FramedSpec,
    filler: FrameFiller,
    private readonly readFd: number,
    read: ReadAt,
    /** A sealed generation's unit directory, noted as bytes are appended (U1). */
    private readonly directory?: UnitDirectory,
  ) {
    super();
    this.filler = filler;
    this.reads = new FramedReads(framed, filler, read);
    this.read = this.reads.readAt;
    this.table = new Int32Array(framed.table, 0, framed.table.byteLength >> 2);
    filler.adopt(framed.owner, this.table);
  }

  override shareable(): { segments: SharedArrayBuffer[]; framed: FramedSpec } {
    return { segments: [], framed: this.framed };
  }

  override recordAt(lsn: number): number {
    return framedRecordAt(this, this.reads, lsn);
  }

  override residentRecordAt(lsn: number): number {
    return this.recordAt(lsn);
  }

  override keyEquals(lsn: number, namespace: number, bytes: Uint8Array, start: number, len: number): boolean {
    return framedKeyEquals(this, this.reads, lsn, namespace, bytes, start, len);
  }

  /**
   * The boundary CRCs (entry p: the CRC of the log before page p) and how far
   * they reach, for checking pages read back from the file; set by the engine.
   */
  pageCheck: (() => { boundaries: readonly number[] | undefined; covered: number }) | undefined;

  /**
   * Linear reads on the writer (backup's copy, the prefix CRC): whole pages
   * read from the file, each page the boundary CRCs cover checked before any
   * of it is returned, so a backup never copies a damaged page of a log that
   * open did not read (ERR_EMDB_CORRUPTION at the page, as the whole-log
   * mirror's lazy pages report it). Pages past the last checkpoint were
   * written by this process (or replayed and checked at open).
   */
  override logBytes(lsn: number, maxLen: number): Uint8Array {
    const check = this.pageCheck?.();
    const n = Math.min(maxLen, LINEAR_CHECK_CHUNK);
    const first = pageOf(lsn);
    const from = first * FRAME_BYTES;
    const to = (pageOf(lsn + n - 1) + 1) * FRAME_BYTES;
    if (this.linearScratch.length < to - from) this.linearScratch = new Uint8Array(to - from);
    const buf = this.linearScratch;
    const got = this.readRaw(buf.subarray(0, to - from), from);
    const boundaries = check?.boundaries;
    if (boundaries && check) {
      for (let page = first; (page + 1) * FRAME_BYTES <= Math.min(from + got, check.covered) && page + 1 < boundaries.length; page++) {
        const at = page * FRAME_BYTES - from;
        if (!pageMatches(page, buf.subarray(at, at + FRAME_BYTES), boundaries)) {
          throw new EmdbError(ErrorCode.CORRUPTION, `log page at offset ${page * FRAME_BYTES} does not match its checksum (a damaged or changed database file)`, { offset: page * FRAME_BYTES });
        }
      }
    }
    return buf.subarray(lsn - from, Math.max(lsn - from, Math.min(lsn + n, from + got) - from));
  }

  private linearScratch = new Uint8Array(0);

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
    this.reads.forgetCopies();
    this.directory?.noteBytes(lsn, bytes);
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

  override onFile(end: number): void {
    this.directory?.publishTo(end);
  }

  /** A sealed generation's unit directory entries for the pages before `tail` (an index snapshot saves them); undefined for a plaintext one. */
  unitEntries(tail: number): Float64Array | undefined {
    return this.directory?.entries(tail);
  }

  /** Pages of a sealed generation are authenticated as they are decrypted: they need no boundary CRCs. */
  get selfChecked(): boolean {
    return this.directory !== undefined;
  }

  /**
   * Places page `page` read back from the file when its bytes match the
   * boundary CRCs (`boundaries[p]`: the CRC of the log before page p, known
   * up to `covered`): the warm-up fills free frames this way. A page that does
   * not match is left out: a read of a record in it meets the damage through
   * the record's own CRC, with its offset. A sealed generation's page is
   * placed when every unit in it authenticated (the read throws otherwise,
   * and the page is left out). False when nothing was placed.
   */
  warmPage(page: number, boundaries: readonly number[] | undefined, covered: number): boolean {
    if ((page + 1) * FRAME_BYTES > covered) return false;
    if (!this.selfChecked && (!boundaries || page + 1 >= boundaries.length)) return false;
    this.growTable(page);
    if (Atomics.load(this.table, page) !== 0) return false;
    const bytes = (this.pageScratch ??= new Uint8Array(FRAME_BYTES));
    if (this.selfChecked) {
      try {
        if (this.readRaw(bytes, page * FRAME_BYTES) < FRAME_BYTES) return false;
      } catch {
        // Damage: the read of a record there reports it, with its offset.
        return false;
      }
    } else {
      if (this.readRaw(bytes, page * FRAME_BYTES) < FRAME_BYTES) return false;
      if (!pageMatches(page, bytes, boundaries!)) return false;
    }
    this.place(page, bytes);
    return true;
  }

  private pageScratch: Uint8Array | undefined;

  /**
   * Caches the pages readers read from the file since the last call (W2),
   * each checked like a warmed page, evicting by CLOCK; returns how many
   * were placed. Drains the ring whatever it places.
   */
  fillWanted(boundaries: readonly number[] | undefined, covered: number): number {
    const wanted = new Int32Array(this.framed.wanted);
    // At most an eighth of the cache per call: uniform misses over a log far larger than the cache would
    // otherwise turn the whole cache over every call, evicting pages readers still hit.
    const most = Math.max(1, this.filler.frames >>> 3);
    let placed = 0;
    for (let i = 0; i < WANTED_SLOTS; i++) {
      const entry = Atomics.exchange(wanted, WANTED_BASE + i, 0);
      if (entry > 0 && placed < most && this.warmPage(entry - 1, boundaries, covered)) placed++;
    }
    return placed;
  }
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

/**
 * Whether `bytes`, the whole page `page` of the log, hash to the boundary CRCs
 * (entry p: the CRC of the log before page p). The header pages are not part
 * of the hashed log: boundary 0's CRC starts at DATA_START.
 */
function pageMatches(page: number, bytes: Uint8Array, boundaries: readonly number[]): boolean {
  const from = Math.max(0, DATA_START - page * FRAME_BYTES);
  return nativeCrc32()(bytes.subarray(from), boundaries[page]) >>> 0 === boundaries[page + 1]! >>> 0;
}
