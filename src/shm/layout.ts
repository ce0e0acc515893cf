/**
 * Names of every shared-memory slot (see docs/FORMAT.md, "Shared memory").
 *
 * Ordering rules that the code in index-table.ts, mirror.ts, shared-view.ts,
 * control.ts and batch-seq.ts depends on (single writer thread, any number of reader threads):
 *  R1. The writer copies a record into the mirror BEFORE publishing the index slot
 *      that points at it. Readers only reach mirror bytes through a slot read, and
 *      the slot's closing Atomics.store(seq) / the reader's Atomics.load(seq) pair
 *      orders the mirror bytes before the reader's accesses.
 *  R2. Slot update: store seq+1 (odd) → store tag, lsnLo, lsnHi → store seq+2.
 *      Reader: load seq (retry while odd) → load the three words → load seq; equal
 *      means a consistent snapshot. Every slot access is an Atomics op, so this is
 *      correct under the JS memory model, not just on x86.
 *  R2a. A probe may leave a slot on one Atomics.load of TAG alone (after the SEQ
 *      load, before the LSN words) when the tag is EMPTY or not the one it looks
 *      for: an aligned Int32 Atomics.load is one value at one point of the total
 *      order, a slot whose TAG differs from the key's tag does not hold the key at
 *      that point, and a slot never returns to EMPTY in a published table (R5,
 *      deletion writes DELETED). Only the LSN needs the snapshot of R2, because it
 *      is two words and an in-place update of a key keeps its tag.
 *  R3. Mirror bytes below NEXT_LSN never change (records are immutable): the
 *      writer copies a batch into the mirror and the file first, then advances
 *      NEXT_LSN past it, then publishes its index slots (R1).
 *  R4. A new buffer set is posted on the buffers BroadcastChannel BEFORE
 *      GENERATION is incremented; a thread that observes a new generation finds
 *      the message already queued and takes it with receiveMessageOnPort.
 *  R5. A replaced index table is never written again and never reused.
 *  R6. Write batches (batch-seq.ts): the writer Atomics.adds 1 to BATCH_SEQ
 *      (odd) before it publishes the first index slot of a batch (a
 *      transaction, an insertMany chunk, the writes of one message), and 1
 *      again (even) after its last slot and the sorted tail's count (S2), then
 *      notifies BATCH_SEQ. A table rebuild or purge completed inside a batch
 *      is inside that bracket; one between batches (a purge step, a
 *      compaction swap) publishes a table with the same content, so it needs
 *      none. A reader that must see batches whole (getMany) loads BATCH_SEQ
 *      (waiting on it while odd, never spinning), syncs its view (a table
 *      replaced mid-batch is frozen mid-batch, R5), looks its keys up, and
 *      loads BATCH_SEQ again: equal means no slot of any batch was published
 *      in between (every slot access is an Atomics op, R2), else it starts
 *      over. After a few tries it adds 1 to READ_HOLDS and stores a deadline
 *      in HOLD_UNTIL (wall-clock ms, low 32 bits, compared by signed
 *      difference); the writer, before making BATCH_SEQ odd, waits while
 *      READ_HOLDS > 0 and that deadline has not passed. Single-key reads
 *      never touch these words: one slot read is atomic already.
 */

import { fieldOffsets } from '../format/field-offsets.js';

/** The slot tables below count Int32 words; these turn words into bytes and 64-bit slots into words. */
const I32_BYTES = Int32Array.BYTES_PER_ELEMENT;
const WORDS_PER_I64 = BigInt64Array.BYTES_PER_ELEMENT / I32_BYTES;

// ---- control block ----
/**
 * Indices into the control block's BigInt64Array view.
 *
 * NEXT_LSN is the log's LSN counter: where the writer appends next, i.e. the end
 * of the log. Only the writer thread advances it (Atomics.add, shm/control.ts),
 * after the batch is in the mirror and the file and before its index slots are
 * published; any thread may read it with Atomics.load, without a message.
 *
 * READS is the one slot many threads write: every thread that looks keys up
 * (the opening thread, attached threads, reader workers) counts its lookups in
 * a plain local counter and adds it here with Atomics.add — a reader task once
 * per task, a thread doing getSync/get/contains every READS_PUBLISH_EVERY
 * lookups and at the end of the current synchronous run (a microtask). It is a
 * statistic with no ordering duty: no other slot is ordered against it, and a
 * load may miss each thread's not yet published lookups (fewer than
 * READS_PUBLISH_EVERY per thread, and none once the thread has yielded).
 */
const ctl64 = fieldOffsets({
  NEXT_LSN: 1, READS: 1,
  /**
   * CLOCK_OFFSET: milliseconds added to Date.now() by every thread's clock
   * (shm/clock.ts), so a test moves time for the writer, the reader pool and
   * attached threads at once. 0 in production. Written with Atomics.store by
   * a test hook, read with Atomics.load; no other slot is ordered against it
   * (a thread that reads the old offset once more sees time a moment earlier,
   * exactly as if it had read the clock a moment earlier).
   */
  CLOCK_OFFSET: 1,
});
export const Ctl64 = ctl64.offsets;
export const CTL64_SLOTS = ctl64.end;
/** A thread publishes its local lookup count to READS at least this often. */
export const READS_PUBLISH_EVERY = 4096;
/**
 * Indices into the control block's Int32Array view (after the 64-bit slots).
 * READERS: reader-pool threads of the opening thread, stored once by it before
 * any handle exists (attached threads report it in stats()).
 * BATCH_SEQ, READ_HOLDS, HOLD_UNTIL: whole write batches for getMany (rule R6).
 */
const ctl32 = fieldOffsets({ GENERATION: 1, STATE: 1, READERS: 1, BATCH_SEQ: 1, READ_HOLDS: 1, HOLD_UNTIL: 1 }, CTL64_SLOTS * WORDS_PER_I64);
export const Ctl32 = ctl32.offsets;
/** Rounded up to whole 8-byte words: the same buffer is also viewed as a BigInt64Array. */
export const CONTROL_BYTES = Math.ceil(ctl32.end / WORDS_PER_I64) * BigInt64Array.BYTES_PER_ELEMENT;

export const DbState = {
  OPENING: 0,
  OPEN: 1,
  FAILED: 2,
  CLOSED: 3,
} as const;

// ---- index table ----
/** Int32 words of the index header; the rest of its 64 bytes is reserved. */
const indexHeader = fieldOffsets({ CAPACITY: 1, MASK: 1, RESERVED: 14 });
export const IndexHeader = indexHeader.offsets;
export const INDEX_HEADER_BYTES = indexHeader.end * I32_BYTES;
/** Int32 words of one slot (rule R2 says in which order they are written). */
const slotWords = fieldOffsets({ SEQ: 1, TAG: 1, LSN_LO: 1, LSN_HI: 1 });
export const SlotWord = slotWords.offsets;
export const SLOT_WORDS = slotWords.end;
export const SLOT_BYTES = SLOT_WORDS * I32_BYTES;
export const TAG_EMPTY = 0;
export const TAG_DELETED = 1;
/** First word of slot i in the Int32Array view. */
export const SLOT_BASE_WORDS = indexHeader.end;
export const MIN_INDEX_CAPACITY = 1024;
/** Rebuild when (live + deleted) would pass this fraction of capacity. */
export const MAX_LOAD = 0.75;
/** A new table is sized so that the keys it is built for fill at most this fraction of it. */
export const BUILD_LOAD = 0.5;

export function indexBytes(capacity: number): number {
  return INDEX_HEADER_BYTES + capacity * SLOT_BYTES;
}

/** Capacity of a new table for `keys` keys: a power of two, at least MIN_INDEX_CAPACITY, at most BUILD_LOAD full. */
export function capacityFor(keys: number): number {
  let capacity = MIN_INDEX_CAPACITY;
  while (capacity * BUILD_LOAD < keys) capacity *= 2;
  return capacity;
}

/** Tags 0 and 1 are reserved for empty and deleted slots. */
export function tagOf(hash: number): number {
  return (hash >>> 0) < 2 ? hash + 2 : hash;
}

// ---- mirror of the log ----
/** Segment k of the mirror holds the LSN range [k * SEGMENT_SPAN, (k + 1) * SEGMENT_SPAN) (mirror.ts). */
export const SEGMENT_SPAN = 2 ** 30;

/** The mirror segment that log byte `lsn` belongs to. */
export function segmentOf(lsn: number): number {
  return Math.floor(lsn / SEGMENT_SPAN);
}

/** Where log byte `lsn` is inside its segment. */
export function segmentOffset(lsn: number): number {
  return lsn - Math.floor(lsn / SEGMENT_SPAN) * SEGMENT_SPAN;
}

// ---- sorted index (rangeScans: true; src/shm/sorted-*.ts, docs/FORMAT.md) ----
/**
 * Rules of the sorted index (single writer, any number of readers):
 *  S1. A run (sorted, immutable) is fully written before it is published in a
 *      buffer set (rule R4); it is never written again.
 *  S2. The tail is append-only: the writer copies entries past the published
 *      count, then Atomics.store(TAIL_COUNT) once per write batch (a transaction
 *      is one batch, so it is never seen torn). Entries below a count a reader
 *      loaded never change. A retired tail (merged into a run) is never written
 *      again (like R5), so its last count stays a consistent state with the
 *      runs published beside it.
 *  S3. A reader loads TAIL_COUNT, then GENERATION: the writer bumps GENERATION
 *      (a new mirror segment, a new run set) before it stores a count that
 *      covers records depending on it, so a reader that sees an unchanged
 *      generation has every buffer the entries below its count refer to.
 *      "Unchanged" means not newer than the set the reader holds: by R4 the
 *      reader may hold the set GENERATION is about to name (posted, number not
 *      yet stored), which is the newest there is.
 */
// Run and entry layouts are persisted byte for byte in the index snapshot, so they live in format/.
export {
  SORTED_ENTRY_HEADER_BYTES,
  SORTED_RUN_HEADER_BYTES,
  SORTED_TOMBSTONE_HI,
  SortedEntry,
  SortedRunHeader,
  sortedEntryBytes,
} from '../format/sorted-entry.js';
/** Int32 words of the tail's header; entries follow it back to back. */
const tailHeader = fieldOffsets({
  /** Entries published (Atomics, rule S2). */
  COUNT: 1,
  /** Unique per tail, from the same counter as run ids. */
  ID: 1,
  RESERVED: 2,
});
export const SortedTailHeader = tailHeader.offsets;
export const SORTED_TAIL_HEADER_BYTES = tailHeader.end * I32_BYTES;
/** The tail is sorted into a run once it holds this many entries (at the end of a batch). */
export const SORTED_TAIL_MAX_ENTRIES = 2048;
/** Runs are merged while the newer one holds at least 1/SORTED_MERGE_RATIO of the older one's entries. */
export const SORTED_MERGE_RATIO = 2;
/**
 * A tail is sorted into a run when the writer is idle once it holds
 * SORTED_TAIL_MAX_ENTRIES; at once (in the batch's commit) past this many times that.
 */
export const SORTED_TAIL_HARD_FACTOR = 32;
/** Past this many runs a commit merges at once instead of waiting for the writer to be idle. */
export const SORTED_MAX_RUNS = 12;
/** Virtual reservation of a growable tail buffer (one write batch must fit). */
export const SORTED_TAIL_MAX_BYTES = 1 << 30;

// ---- lazily loaded log pages (a reopen from a matching snapshot; src/shm/lazy-pages.ts) ----
/**
 * Rules of a lazily opened log (docs/DESIGN.md, "Lazy log pages"). The mirror
 * segments are grown to the file's size at open but only the header and the
 * bytes after the snapshot's tail are read; page p of [DATA_START, tail) is read
 * by whichever thread first needs it, with pread on the shared descriptor.
 *  L1. Bytes below the tail never change on disk or in the mirror while the
 *      generation lives (R3), so every loader of a page writes the same bytes:
 *      two threads may load one page at once, and a plain write racing a read
 *      of the same value returns that value. No claim is needed.
 *  L2. A loader writes the page into the mirror, checks it against the page
 *      CRCs (format/page-crcs.ts), then compareExchange(state, ABSENT,
 *      RESIDENT); the winner subtracts 1 from LEFT. A reader uses a page's
 *      bytes only after an Atomics.load of its state returned RESIDENT, which
 *      orders the loader's writes before its reads. A page that fails the check
 *      stays ABSENT (its bytes are never used) and the read fails with
 *      ERR_EMDB_CORRUPTION at the page.
 *  L3. The descriptor: a loader adds 1 to IN_FLIGHT, then loads FD, preads,
 *      and subtracts 1. The writer stores FD = -1 only once LEFT is 0, and
 *      closes the descriptor only after a later load of IN_FLIGHT returns 0. All
 *      four are sequentially consistent Atomics, so either the loader saw the
 *      old FD and the writer sees its IN_FLIGHT (and waits), or the loader saw
 *      -1, when every page is RESIDENT: no pread ever reaches a closed, reused
 *      descriptor number.
 *  L4. Pages at and after the page holding the tail are the writer's: read at
 *      open (the part after the tail) or appended, never lazy.
 */
const lazyWords = fieldOffsets({ FD: 1, IN_FLIGHT: 1, LEFT: 1, RESERVED: 1 });
export const LazyWord = lazyWords.offsets;
/** Page p's state word is LAZY_STATE_BASE + p; the page CRC table (Uint32, pages + 1 entries) follows the states. */
export const LAZY_STATE_BASE = lazyWords.end;
export const PageState = { ABSENT: 0, RESIDENT: 1 } as const;

/** Int32 words of a lazy-pages block for `pages` pages: header, states, then pages + 1 CRCs. */
export function lazyWordsFor(pages: number): number {
  return LAZY_STATE_BASE + pages + pages + 1;
}

// ---- frame pool: the bounded page cache (src/shm/frame-pool.ts) ----
/**
 * Rules of the frame pool (docs/DESIGN.md, "Bounded page cache"). One thread,
 * the writer, fills and evicts frames; any number of threads read them.
 *  F1. Only the writer writes a frame's bytes, its OWNER and PAGE tag, its
 *      VERSION and the page-table entries. It reassigns frame f (holding page p
 *      of owner g) as: Atomics.store(VERSION, v + 1) (odd), Atomics.store of
 *      g's table entry p to 0, the new OWNER and PAGE (Atomics.store), the
 *      bytes (plain writes), Atomics.store(VERSION, v + 2), and last the new
 *      owner's table entry (f + 1). A frame's VERSION only grows.
 *  F2. A reader of page p of owner g: e = Atomics.load(table entry p), f = e - 1
 *      (e = 0: not resident); v = Atomics.load(VERSION f), odd: not usable;
 *      OWNER f = g and PAGE f = p, else the entry was stale (the frame was
 *      reassigned after the reader loaded it); then plain reads of the bytes;
 *      then the fence of F5; then Atomics.load(VERSION f) = v, else the bytes
 *      may be another page's and are thrown away. Equal versions mean no
 *      reassignment began between the two loads (VERSION only grows), so every
 *      byte read belonged to page p. OWNER and PAGE are plain loads too: they
 *      sit between the two VERSION loads and F1 changes them only while
 *      VERSION is odd, so the closing load vouches for them as for the bytes
 *      (a tag that looked right but changed fails it; one that looked wrong is
 *      only a miss). A lookup's key comparison and its value copy (by whole
 *      words, the value bounded by the rest of the frame before it sizes
 *      anything) share one such window (framed-mirror.ts).
 *  F3. Appends: the writer copies appended records into the frame of the
 *      log's last page without touching VERSION. Readers never read at or past
 *      NEXT_LSN (R3), and bytes below NEXT_LSN in a frame never change while
 *      its tag stays, so a reader of older bytes of that page is not disturbed.
 *  F4. REF is set to 1 by a reader on a hit (Atomics.store) and cleared by the
 *      writer's CLOCK hand; a lost update only changes which frame is evicted.
 *  F5. The fence between a reader's plain byte loads and its closing VERSION
 *      load. On x64 (TSO) loads are not reordered with other loads, so the
 *      closing Atomics.load is enough. Where they can be (arm64: V8's
 *      Atomics.load is a load-acquire, which holds later accesses back but not
 *      earlier ones), the reader first does an Atomics.exchange on a word only
 *      it writes: a read-modify-write with release semantics, so the byte loads
 *      complete before it, and the closing load after it. No other thread
 *      touches that word, so it costs no cache-line traffic.
 */
const framePoolWords = fieldOffsets({ FRAMES: 1, RESERVED: 3 });
export const FramePoolWord = framePoolWords.offsets;
/** Int32 words of one frame's metadata (rules F1–F4). */
const frameWords = fieldOffsets({ VERSION: 1, OWNER: 1, PAGE: 1, REF: 1 });
export const FrameWord = frameWords.offsets;
export const FRAME_WORDS = frameWords.end;
/** First word of frame f's metadata is FRAME_META_BASE + f * FRAME_WORDS. */
export const FRAME_META_BASE = framePoolWords.end;
/** OWNER of a frame that holds no page (owners, one per log generation, start at 1). */
export const FRAME_FREE = 0;
/** Frames are grouped into data buffers of 2^FRAME_CHUNK_SHIFT frames (1 GiB), so a large cache needs no single huge allocation. */
export const FRAME_CHUNK_SHIFT = 14;

/** Int32 words of a frame pool's metadata buffer for `frames` frames. */
export function framePoolWordsFor(frames: number): number {
  return FRAME_META_BASE + frames * FRAME_WORDS;
}

// ---- a log generation's read descriptor (src/shm/record-fetch.ts) ----
/**
 * Rules of the descriptor a thread preads a record through when its page is
 * not in the frame pool (one per log generation; compaction makes a new one):
 *  G1. A reader adds 1 to IN_FLIGHT, loads FD, preads, subtracts 1 (as L3). The
 *      writer, once the generation is retired, first loads PINS (not 0: it
 *      leaves FD alone, so a pinned iterator never sees -1), then exchanges FD
 *      for -1, then loads PINS and IN_FLIGHT: both 0, it closes the
 *      descriptor; else it stores FD back and tries again later (a lookup
 *      that saw the -1 meanwhile looks again on the newer generation, G3; an
 *      iterator that pinned meanwhile starts again, G2). All seq-cst Atomics, so a pread or pin the
 *      writer did not see comes later in the total order and loads -1: no
 *      pread reaches a closed, reused descriptor number.
 *  G2. An iterator or range snapshot that reads a generation for longer than
 *      one call adds 1 to PINS, then loads FD (-1: it unpins and starts again
 *      on the published generation, G3), and subtracts 1 when it ends.
 *  G3. A lookup that loads FD = -1 holds a retired generation: it brings its
 *      view to the published one (R4) and looks the key up again there.
 */
const generationFileWords = fieldOffsets({ FD: 1, IN_FLIGHT: 1, PINS: 1, RESERVED: 1 });
export const GenerationFileWord = generationFileWords.offsets;
export const GENERATION_FILE_WORDS = generationFileWords.end;

// ---- pages readers missed (src/shm/framed-mirror.ts, src/shm/framed-writer.ts) ----
/**
 * A generation's ring of pages readers had to read from the file, which the
 * writer fills into frames on its timer (evicting by CLOCK):
 *  W1. A reader that missed page p: i = Atomics.add(HEAD, 1), then
 *      Atomics.store(slot i mod WANTED_SLOTS, p + 1). Two readers may take
 *      one slot, or a slot may be overwritten before the writer reads it: a
 *      lost wish costs one more pread later, never a wrong byte (the writer
 *      reads the page from the file and checks it against the boundary CRCs
 *      before placing it, F1).
 *  W2. The writer takes each slot with Atomics.exchange(slot, 0).
 */
const wantedWords = fieldOffsets({ HEAD: 1, RESERVED: 3 });
export const WantedWord = wantedWords.offsets;
/** First slot of the ring; WANTED_SLOTS slots follow. */
export const WANTED_BASE = wantedWords.end;
export const WANTED_SLOTS = 256;

// ---- a sealed generation's unit directory (src/shm/sealed-file.ts) ----
/**
 * BigInt64 words (a growable SharedArrayBuffer, viewed without a length so
 * every thread's view follows its growth) naming, for each 64 KiB page of an
 * encrypted (record scheme 2) log read through the page cache, where the
 * top-level item (a sealed unit or a durable mark) that holds the page's
 * first byte starts: a thread that misses the page reads and decrypts from there.
 *  U1. Only the writer stores, with Atomics.store: the entries of the pages an
 *      item covers as it frames the log or appends a batch, before it
 *      publishes the batch (R1), so a record any thread can find has its
 *      page's entry.
 *  U2. END is stored (Atomics.store) once the file holds the bytes before it:
 *      after an append's write returned, never for a batch only noted (the
 *      mirror is written before the file, and the file write may fail and be
 *      cut back). A reader loads END first and reads no byte past it, so
 *      every entry it then loads is one U1 stored and every byte it preads
 *      is in the file.
 *  U3. An entry below END never changes. Entries past END may be rewritten
 *      (an append cut back after ENOSPC is written again at the same LSNs):
 *      no reader looked at them, nor cached a byte of them.
 */
const unitDirectoryWords = fieldOffsets({ END: 1, FIRST_PAGE: 0 });
export const UnitDirectoryWord = unitDirectoryWords.offsets;
