import { LOG_PAGE_BYTES } from '../format/constants.js';
import { testMutant } from '../mutants.js';
import { FRAME_CHUNK_SHIFT, FRAME_FREE, FRAME_META_BASE, FRAME_WORDS, FrameWord, FramePoolWord, framePoolWordsFor } from './layout.js';

/** What every thread needs to read the pool (part of the buffer set, rule R4). */
export interface FramePoolSpec {
  /** Int32 words: pool header, then FRAME_WORDS per frame (layout.ts, F1–F4). */
  words: SharedArrayBuffer;
  /** Frame bytes: chunk c holds frames [c << FRAME_CHUNK_SHIFT, (c + 1) << FRAME_CHUNK_SHIFT). */
  chunks: SharedArrayBuffer[];
  frames: number;
}

/** A frame holds one log page. */
export const FRAME_BYTES = LOG_PAGE_BYTES;
const CHUNK_MASK = (1 << FRAME_CHUNK_SHIFT) - 1;
/** Rule F5: only where loads may pass loads does a reader need the release fence. */
const NEEDS_FENCE = process.arch !== 'x64' && process.arch !== 'ia32';

/** Frames for a cache of `bytes` (at least 2: the log's last page is pinned while the writer appends to it). */
export function framesFor(bytes: number): number {
  return Math.max(2, Math.floor(bytes / FRAME_BYTES));
}

/**
 * Any thread's view of the frame pool: finds a page's frame and reads it under
 * the frame's version (rule F2). A page table (one per log generation, an
 * Int32Array over shared memory, entry p = frame + 1 or 0) says where each
 * page of that generation is; OWNER names the generation a frame holds a page of.
 */
export class FrameReader {
  readonly words: Int32Array;
  readonly chunks: Uint8Array[];
  readonly dvs: DataView[];
  /** Int32 views over the same chunks: a copy of a frame's bytes by whole words (framed-mirror.ts) is ~3x faster than a set() from shared memory. */
  readonly chunkWords: Int32Array[];
  readonly frames: number;
  /** The VERSION locate() loaded for the frame it returned; confirm() compares against it. */
  version = 0;
  /** Rule F5's word: written by this thread alone. */
  private readonly fenceWord = new Int32Array(new SharedArrayBuffer(4));
  private readonly skipCheck = testMutant.name === 'frame-no-version-check';

  constructor(readonly spec: FramePoolSpec) {
    this.words = new Int32Array(spec.words);
    this.chunks = spec.chunks.map((sab) => new Uint8Array(sab));
    this.dvs = spec.chunks.map((sab) => new DataView(sab));
    this.chunkWords = spec.chunks.map((sab) => new Int32Array(sab));
    this.frames = spec.frames;
  }

  /** The chunk holding frame f's bytes; they start at frameStart(f) in it. */
  bytesOf(frame: number): Uint8Array {
    return this.chunks[frame >>> FRAME_CHUNK_SHIFT]!;
  }

  /** An Int32Array over the same chunk as bytesOf(frame) (frames start on a word: FRAME_BYTES is a multiple of 4). */
  wordsOf(frame: number): Int32Array {
    return this.chunkWords[frame >>> FRAME_CHUNK_SHIFT]!;
  }

  /** A DataView over the same chunk as bytesOf(frame). */
  dvOf(frame: number): DataView {
    return this.dvs[frame >>> FRAME_CHUNK_SHIFT]!;
  }

  frameStart(frame: number): number {
    return (frame & CHUNK_MASK) * FRAME_BYTES;
  }

  /**
   * The frame holding page `page` of `owner` (its table `table`), or -1; on a
   * frame, `version` holds the VERSION to confirm after reading (F2). Marks the
   * frame referenced (F4).
   */
  locate(table: Int32Array, owner: number, page: number): number {
    if (page >= table.length) return -1;
    const frame = Atomics.load(table, page) - 1;
    if (frame < 0) return -1;
    const meta = FRAME_META_BASE + frame * FRAME_WORDS;
    const words = this.words;
    const version = Atomics.load(words, meta + FrameWord.VERSION);
    if ((version & 1) !== 0) return -1;
    // Plain loads, like the bytes: they sit between the two VERSION loads, so the caller's confirm() vouches for
    // them as for the bytes (F1 changes OWNER and PAGE only while VERSION is odd). A frame whose tag looked right
    // but changed meanwhile fails the confirm; one whose tag looked wrong is a miss, never a wrong byte.
    if (words[meta + FrameWord.OWNER] !== owner || words[meta + FrameWord.PAGE] !== page) return -1;
    if (words[meta + FrameWord.REF] === 0) Atomics.store(words, meta + FrameWord.REF, 1);
    this.version = version;
    return frame;
  }

  /** True when frame f still holds what it held when locate() returned it: the bytes read in between are the page's (F2, F5). */
  confirm(frame: number, version: number): boolean {
    if (NEEDS_FENCE) Atomics.exchange(this.fenceWord, 0, version);
    if (this.skipCheck) return true;
    return Atomics.load(this.words, FRAME_META_BASE + frame * FRAME_WORDS + FrameWord.VERSION) === version;
  }

  /**
   * Copies log bytes [lsn, lsn + len) of `owner` into dst at dstOffset, page by
   * page. False when a page is not resident, or was reassigned during the copy
   * twice in a row: the caller reads the bytes from the file instead. dst's
   * bytes are then unspecified.
   */
  copyOut(table: Int32Array, owner: number, lsn: number, len: number, dst: Uint8Array, dstOffset: number): boolean {
    let at = lsn;
    let out = dstOffset;
    const end = lsn + len;
    while (at < end) {
      const page = Math.floor(at / FRAME_BYTES);
      const inPage = at - page * FRAME_BYTES;
      const n = Math.min(end - at, FRAME_BYTES - inPage);
      if (!this.copyPage(table, owner, page, inPage, n, dst, out) && !this.copyPage(table, owner, page, inPage, n, dst, out)) return false;
      at += n;
      out += n;
    }
    return true;
  }

  private copyPage(table: Int32Array, owner: number, page: number, inPage: number, n: number, dst: Uint8Array, out: number): boolean {
    const frame = this.locate(table, owner, page);
    if (frame < 0) return false;
    const version = this.version;
    const start = this.frameStart(frame) + inPage;
    dst.set(this.bytesOf(frame).subarray(start, start + n), out);
    return this.confirm(frame, version);
  }
}

/**
 * The writer's side: places pages in frames, evicts by CLOCK (a frame read
 * since the hand last passed it gets another turn), and never evicts a pinned
 * frame (the page appends go to, F3).
 */
export class FrameFiller extends FrameReader {
  private hand = 0;
  private readonly pinned: Uint8Array;
  /** Each owner's page table, for clearing a reassigned frame's old entry (F1). */
  private readonly tables = new Map<number, Int32Array>();
  evictions = 0;
  /** Frames holding no page: a warm-up fills only these, it never evicts. */
  freeFrames: number;

  constructor(spec: FramePoolSpec) {
    super(spec);
    this.pinned = new Uint8Array(spec.frames);
    this.freeFrames = spec.frames;
  }

  static create(cacheBytes: number): FramePoolSpec {
    const frames = framesFor(cacheBytes);
    const words = new SharedArrayBuffer(framePoolWordsFor(frames) * Int32Array.BYTES_PER_ELEMENT);
    Atomics.store(new Int32Array(words), FramePoolWord.FRAMES, frames);
    const chunks: SharedArrayBuffer[] = [];
    for (let first = 0; first < frames; first += 1 << FRAME_CHUNK_SHIFT) {
      chunks.push(new SharedArrayBuffer(Math.min(frames - first, 1 << FRAME_CHUNK_SHIFT) * FRAME_BYTES));
    }
    return { words, chunks, frames };
  }

  /** Registers the page table of a generation (owner ≥ 1) before any of its pages is placed. */
  adopt(owner: number, table: Int32Array): void {
    this.tables.set(owner, table);
  }

  /**
   * Puts `bytes` (at most one page, from the page's first byte) in a frame as
   * page `page` of `owner` and publishes it; returns the frame. The page must
   * not be resident already.
   */
  place(owner: number, page: number, bytes: Uint8Array): number {
    const table = this.tables.get(owner)!;
    const frame = this.victim();
    const meta = FRAME_META_BASE + frame * FRAME_WORDS;
    const version = this.words[meta + FrameWord.VERSION]!;
    Atomics.store(this.words, meta + FrameWord.VERSION, version + 1);
    if (this.words[meta + FrameWord.OWNER] === FRAME_FREE) this.freeFrames--;
    this.unlink(meta);
    Atomics.store(this.words, meta + FrameWord.OWNER, owner);
    Atomics.store(this.words, meta + FrameWord.PAGE, page);
    // Unreferenced until read: the hand has just passed this frame, so it is the last one the next sweep reaches.
    Atomics.store(this.words, meta + FrameWord.REF, 0);
    this.bytesOf(frame).set(bytes, this.frameStart(frame));
    Atomics.store(this.words, meta + FrameWord.VERSION, version + 2);
    Atomics.store(table, page, frame + 1);
    return frame;
  }

  /** Writes bytes at `inPage` of the frame of an already placed page, past NEXT_LSN (rule F3: no version change). */
  append(frame: number, inPage: number, bytes: Uint8Array): void {
    this.bytesOf(frame).set(bytes, this.frameStart(frame) + inPage);
  }

  pin(frame: number): void {
    this.pinned[frame] = 1;
  }

  unpin(frame: number): void {
    this.pinned[frame] = 0;
  }

  /** Frees every frame of `owner` (a generation compaction retired) and forgets its table. */
  release(owner: number): void {
    for (let frame = 0; frame < this.frames; frame++) {
      const meta = FRAME_META_BASE + frame * FRAME_WORDS;
      if (this.words[meta + FrameWord.OWNER] !== owner) continue;
      const version = this.words[meta + FrameWord.VERSION]!;
      Atomics.store(this.words, meta + FrameWord.VERSION, version + 1);
      this.unlink(meta);
      Atomics.store(this.words, meta + FrameWord.OWNER, FRAME_FREE);
      Atomics.store(this.words, meta + FrameWord.VERSION, version + 2);
      this.pinned[frame] = 0;
      this.freeFrames++;
    }
    this.tables.delete(owner);
  }

  /** Pages resident for `owner` (a statistic: walks the frames). */
  residentPages(owner: number): number {
    let n = 0;
    for (let frame = 0; frame < this.frames; frame++) if (this.words[FRAME_META_BASE + frame * FRAME_WORDS + FrameWord.OWNER] === owner) n++;
    return n;
  }

  /** Clears the table entry of the page frame `meta` holds (its VERSION is already odd, F1). */
  private unlink(meta: number): void {
    const owner = this.words[meta + FrameWord.OWNER]!;
    if (owner === FRAME_FREE) return;
    const table = this.tables.get(owner);
    const page = this.words[meta + FrameWord.PAGE]!;
    if (table !== undefined && page < table.length) Atomics.store(table, page, 0);
    this.evictions++;
  }

  /** A free frame, else the first unpinned frame the CLOCK hand finds unreferenced. */
  private victim(): number {
    const frames = this.frames;
    // Two sweeps clear every reference bit a reader does not set again meanwhile, so a third usually finds one.
    for (let step = 0; step < frames * 3; step++) {
      const frame = this.hand;
      this.hand = frame + 1 === frames ? 0 : frame + 1;
      if (this.pinned[frame] === 1) continue;
      const meta = FRAME_META_BASE + frame * FRAME_WORDS;
      if (this.words[meta + FrameWord.OWNER] === FRAME_FREE) return frame;
      if (this.words[meta + FrameWord.REF] !== 0) {
        Atomics.store(this.words, meta + FrameWord.REF, 0);
        continue;
      }
      return frame;
    }
    // Readers may set a bit again behind the hand on every pass (a hot page in a small cache): the next unpinned frame then.
    for (let step = 0; step < frames; step++) {
      const frame = this.hand;
      this.hand = frame + 1 === frames ? 0 : frame + 1;
      if (this.pinned[frame] !== 1) return frame;
    }
    throw new RangeError('frame pool: every frame is pinned');
  }
}

/** The page that log byte `lsn` is in. */
export function pageOf(lsn: number): number {
  return Math.floor(lsn / LOG_PAGE_BYTES);
}

/** A generation's page table for a log of `bytes` bytes (grown by the writer as the log grows). */
export function newPageTable(bytes: number, maxBytes = 2 ** 40): Int32Array {
  const entries = Math.ceil(bytes / FRAME_BYTES) + 1;
  const maxEntries = Math.ceil(maxBytes / FRAME_BYTES) + 1;
  return new Int32Array(new SharedArrayBuffer(entries * 4, { maxByteLength: maxEntries * 4 }));
}

