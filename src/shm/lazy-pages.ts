import fs from 'node:fs';
import { EmdbError, ErrorCode } from '../errors.js';
import { testMutant } from '../mutants.js';
import { nativeCrc32 } from './native-crc.js';
import { DATA_START, LOG_PAGE_BYTES, MAX_RECORD_BYTES } from '../format/constants.js';
import { LAZY_STATE_BASE, lazyWordsFor, LazyWord, PageState, SEGMENT_SPAN, segmentOf, segmentOffset } from './layout.js';

/** What every thread needs to load pages of a lazily opened log (part of the buffer set, rule R4). */
export interface LazySpec {
  /** Int32 words: LazyWord header, page states, then the page CRC table (layout.ts). */
  words: SharedArrayBuffer;
  /** Pages [0, pages) cover the lazy bytes [DATA_START, tail). */
  pages: number;
  /** The snapshot's tail: the end of the lazy bytes. */
  tail: number;
  /** CRC of [DATA_START, tail): checks the last page when the tail is not on a page boundary. */
  tailCrc: number;
}

/** pread as fs.readSync has it; the writer passes its FileIO's (test doubles). */
export type ReadAt = (fd: number, buf: Uint8Array, bufOffset: number, len: number, position: number) => number;

/**
 * Loads pages of a lazily opened log into the shared mirror on first use
 * (rules L1–L4 in layout.ts). Every thread holding the generation has one:
 * the opening thread and attached threads (getSync, iteration), pool readers,
 * and the writer, which warms the rest in steps and before any request that
 * reads old records.
 */
export class LazyPages {
  readonly words: Int32Array;
  readonly pages: number;
  readonly tail: number;
  private readonly tailCrc: number;
  private readonly crcBase: number;
  /** Log bytes from here on are never lazy (rule L4): the fast path of ensure(). */
  readonly lazyEnd: number;

  constructor(
    readonly spec: LazySpec,
    private readonly buffers: readonly SharedArrayBuffer[],
    private readonly read: ReadAt = fs.readSync,
  ) {
    this.words = new Int32Array(spec.words);
    this.pages = spec.pages;
    this.tail = spec.tail;
    this.tailCrc = spec.tailCrc;
    this.crcBase = LAZY_STATE_BASE + spec.pages;
    this.lazyEnd = Math.min(spec.pages * LOG_PAGE_BYTES, spec.tail);
  }

  /**
   * A new block for `tail` bytes with every page absent, the CRC table
   * (entry k: CRC at page boundary k) and descriptor `fd` (writer, at open).
   */
  static create(tail: number, tailCrc: number, pageCrcs: Uint32Array, fd: number): LazySpec {
    const pages = Math.ceil(tail / LOG_PAGE_BYTES);
    const words = new SharedArrayBuffer(lazyWordsFor(pages) * Int32Array.BYTES_PER_ELEMENT);
    const w = new Int32Array(words);
    for (let k = 0; k < pageCrcs.length && k <= pages; k++) w[LAZY_STATE_BASE + pages + k] = pageCrcs[k]! | 0;
    w[LazyWord.LEFT] = pages;
    // Published by the buffer set's postMessage (R4), which orders these stores before any reader's loads.
    Atomics.store(w, LazyWord.FD, fd);
    return { words, pages, tail, tailCrc };
  }

  /** Makes the log bytes [lsn, lsn + len) resident (loading and checking absent pages); throws ERR_EMDB_CORRUPTION for a damaged page. */
  ensure(lsn: number, len: number): void {
    if (lsn >= this.lazyEnd) return;
    const last = Math.min(this.pages - 1, Math.floor((lsn + Math.max(len, 1) - 1) / LOG_PAGE_BYTES));
    for (let p = Math.floor(lsn / LOG_PAGE_BYTES); p <= last; p++) {
      if (Atomics.load(this.words, LAZY_STATE_BASE + p) !== PageState.RESIDENT) this.load(p);
    }
  }

  /** Pages not yet resident (0 once warm). */
  left(): number {
    return Atomics.load(this.words, LazyWord.LEFT);
  }

  /** Loads page `p` (rules L1–L3). */
  load(p: number): void {
    const start = Math.max(p * LOG_PAGE_BYTES, DATA_START);
    const end = Math.min((p + 1) * LOG_PAGE_BYTES, this.tail);
    if (end > start) {
      Atomics.add(this.words, LazyWord.IN_FLIGHT, 1);
      try {
        const fd = Atomics.load(this.words, LazyWord.FD);
        if (fd < 0) {
          // L3: -1 only once every page is resident; anything else means the database closed under us.
          if (Atomics.load(this.words, LAZY_STATE_BASE + p) === PageState.RESIDENT) return;
          throw new EmdbError(ErrorCode.CLOSED, 'database is closed');
        }
        this.readInto(fd, start, end);
      } finally {
        Atomics.sub(this.words, LazyWord.IN_FLIGHT, 1);
      }
      const seg = segmentOf(start);
      const bytes = new Uint8Array(this.buffers[seg]!, segmentOffset(start), end - start);
      const expected = end === (p + 1) * LOG_PAGE_BYTES ? this.words[this.crcBase + p + 1]! >>> 0 : this.tailCrc >>> 0;
      if (testMutant.name !== 'lazy-no-page-check' && nativeCrc32()(bytes, this.words[this.crcBase + p]! >>> 0) >>> 0 !== expected) {
        throw new EmdbError(ErrorCode.CORRUPTION, `log bytes [${start}, ${end}) do not match their checksum (a damaged or changed database file)`, { offset: start });
      }
    }
    if (Atomics.compareExchange(this.words, LAZY_STATE_BASE + p, PageState.ABSENT, PageState.RESIDENT) === PageState.ABSENT) {
      Atomics.sub(this.words, LazyWord.LEFT, 1);
    }
  }

  /**
   * Reads [start, end) of the file into every segment that mirrors it: its own,
   * and the previous one's overflow area when the bytes are within a record's
   * length of the segment start (a record is whole in the segment it starts in).
   */
  private readInto(fd: number, start: number, end: number): void {
    const seg = segmentOf(start);
    this.readFully(fd, this.buffers[seg]!, segmentOffset(start), start, end);
    const into = segmentOffset(start);
    if (seg > 0 && into < MAX_RECORD_BYTES) {
      const prev = this.buffers[seg - 1]!;
      const at = SEGMENT_SPAN + into;
      const stop = Math.min(end, start + (prev.byteLength - at));
      if (stop > start) this.readFully(fd, prev, at, start, stop);
    }
  }

  private readFully(fd: number, sab: SharedArrayBuffer, at: number, start: number, end: number): void {
    const u8 = new Uint8Array(sab, at, end - start);
    for (let done = 0; done < u8.length; ) {
      const n = this.read(fd, u8, done, u8.length - done, start + done);
      if (n <= 0) throw new EmdbError(ErrorCode.IO, `short read loading log bytes [${start}, ${end}): the file is shorter than its checkpoint`);
      done += n;
    }
  }
}

/**
 * The writer's side: warms the pages nobody has read yet, in bounded steps
 * between requests and all at once before a request that reads old records,
 * then retires the descriptor (rule L3).
 */
export class LazyWarmer {
  private next = 0;
  private fd: number;

  constructor(
    readonly pages: LazyPages,
    private readonly close: (fd: number) => void,
  ) {
    this.fd = Atomics.load(pages.words, LazyWord.FD);
  }

  /** Loads absent pages for about `budgetMs` (Infinity: all); true when work remains. Throws what a page load throws. */
  step(budgetMs: number): boolean {
    const stop = performance.now() + budgetMs;
    const { pages } = this;
    while (this.next < pages.pages) {
      if (Atomics.load(pages.words, LAZY_STATE_BASE + this.next) !== PageState.RESIDENT) pages.load(this.next);
      this.next++;
      // Every page: one is a 64 KiB read and CRC (~40 µs), so a step ends close to its budget.
      if (performance.now() >= stop) return true;
    }
    return !this.retire();
  }

  /**
   * L3: once every page is resident, withdraw the descriptor and close it when
   * no load is in flight; true when closed. `closing`: the database closes, so
   * the descriptor is withdrawn whatever is left, and a load still in flight
   * gets up to a second; past that the descriptor is left open (a leak, never a
   * pread on a reused number).
   */
  retire(closing = false): boolean {
    if (this.fd < 0) return true;
    if (!closing && this.pages.left() !== 0) return false;
    Atomics.store(this.pages.words, LazyWord.FD, -1);
    const deadline = closing ? performance.now() + 1000 : 0;
    while (Atomics.load(this.pages.words, LazyWord.IN_FLIGHT) !== 0) {
      if (performance.now() >= deadline) return false;
    }
    const fd = this.fd;
    this.fd = -1;
    this.close(fd);
    return true;
  }
}
