import fs from 'node:fs';
import { MAX_KEY_BYTES, MAX_VALUE_BYTES, RECORD, RECORD_FLAG_ENCRYPTED, RECORD_HEADER_SIZE } from '../format/constants.js';
import { recordExpiresAt, recordFlags, recordKeyLen, recordNamespace, recordValueLen, storedPayloadSize } from '../format/record-fields.js';
import { readU64 } from '../format/u64.js';
import { FRAME_BYTES, FrameReader, type FramePoolSpec, pageOf } from './frame-pool.js';
import { GenerationRetired } from './frame-records.js';
import type { IndexView } from './index-table.js';
import { GenerationFileWord, WANTED_BASE, WANTED_SLOTS, WantedWord } from './layout.js';
import type { LazySpec } from './lazy-pages.js';
import { MirrorView } from './mirror.js';
import { RecordFetch, type ReadAt } from './record-fetch.js';
import { SealedReader, type SealedSpec } from './sealed-file.js';

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
  /** Pages readers read from the file, for the writer to cache (W1–W2 in layout.ts). */
  wanted: SharedArrayBuffer;
  /** An encrypted generation's keys and unit directory (sealed-file.ts): every read from the file decrypts. */
  sealed?: SealedSpec;
}

/** A new generation's ring of wanted pages. */
export function newWantedRing(): SharedArrayBuffer {
  return new SharedArrayBuffer((WANTED_BASE + WANTED_SLOTS) * Int32Array.BYTES_PER_ELEMENT);
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
export class FramedReads {
  readonly reader: FrameReader;
  readonly file: Int32Array;
  readonly wanted: Int32Array;
  readonly owner: number;
  private table: Int32Array;
  private readonly header = new Uint8Array(RECORD_HEADER_SIZE);
  private readonly headerDv = new DataView(this.header.buffer);
  private readonly fetch: RecordFetch;
  /** A sealed generation's plaintext reader, else undefined. */
  private readonly sealed: SealedReader | undefined;
  /** pread of the log's mirror form: the file itself, or its decryption (sealed). */
  readonly readAt: ReadAt;
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
  /**
   * A reader thread's lookups (FramedView.lookupValue): a probe's match also
   * takes the value, in the same version window as the key comparison (F2),
   * so the lookup needs no second locate and no copy of the record into the
   * ring. The writer's FramedReads leaves it off: its probes want no value.
   */
  captureMatches = false;
  /** The match captured by the last keyEquals that returned true, or -1: its value is valU8[valStart, valStart + valLen). */
  capturedLsn = -1;
  valU8: Uint8Array = new Uint8Array(0);
  valStart = 0;
  valLen = 0;
  valExpiresAt = 0;
  /** The captures' own scratch (never a ring slot): valU8 is this, or the fetch's scratch for a record read from the file. */
  private valScratch = new Uint8Array(1024);
  private valWords = new Int32Array(this.valScratch.buffer);

  constructor(
    readonly spec: FramedSpec,
    reader: FrameReader,
    read?: ReadAt,
  ) {
    this.reader = reader;
    this.file = new Int32Array(spec.file);
    this.wanted = new Int32Array(spec.wanted);
    this.owner = spec.owner;
    this.table = new Int32Array(spec.table, 0, spec.table.byteLength >> 2);
    // A sealed generation's reads decrypt with its own key and keep its last unit: a fetch of its own.
    this.sealed = spec.sealed ? new SealedReader(spec.sealed, read ?? fs.readSync) : undefined;
    this.readAt = this.sealed?.read ?? read ?? fs.readSync;
    this.fetch = this.sealed || read ? new RecordFetch(this.readAt) : (threadFetch ??= new RecordFetch(fs.readSync));
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
    let total = this.copyWithinPage(lsn, slot);
    if (total < 0 && this.reader.copyOut(this.tableFor(lsn + RECORD_HEADER_SIZE), this.owner, lsn, RECORD_HEADER_SIZE, this.header, 0)) {
      const dv = this.headerDv;
      const keyLen = recordKeyLen(dv, 0);
      const valueLen = recordValueLen(dv, 0);
      // Confirmed bytes of a record's page hold its real lengths (F2); checked anyway, so no bytes but a record's size a buffer.
      total = keyLen <= MAX_KEY_BYTES && valueLen <= MAX_VALUE_BYTES ? RECORD_HEADER_SIZE + storedPayloadSize(recordFlags(dv, 0), keyLen, valueLen) : -1;
      if (total > 0 && !this.reader.copyOut(this.tableFor(lsn + total), this.owner, lsn, total, this.slotOf(slot, total), 0)) total = -1;
    }
    if (total < 0) {
      // W1: the writer may cache the page for the next reader.
      this.missed(lsn);
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
    const inFrame = this.keyEqualsInPage(lsn, namespace, bytes, start, len);
    if (inFrame !== 0) return inFrame > 0;
    let rec = this.keyScratch;
    let dv = this.keyDv;
    let fetched = false;
    if (!this.reader.copyOut(this.tableFor(lsn + need), this.owner, lsn, need, rec, 0)) {
      if (this.fetch.fetch(this.file, lsn) < 0) throw new GenerationRetired();
      rec = this.fetch.bytes;
      dv = this.fetch.dv;
      fetched = true;
    }
    if (recordKeyLen(dv, 0) !== len || recordNamespace(dv, 0) !== namespace) return false;
    for (let i = 0; i < len; i++) if (rec[RECORD_HEADER_SIZE + i] !== bytes[start + i]) return false;
    if (fetched && this.captureMatches) {
      // The whole record is in the fetch's scratch, checked against its CRC: the value is served from there, no copy.
      this.missed(lsn);
      this.capturedLsn = lsn;
      this.valU8 = rec;
      this.valStart = RECORD_HEADER_SIZE + len;
      this.valLen = recordValueLen(dv, 0);
      this.valExpiresAt = recordExpiresAt(dv, 0);
    }
    return true;
  }

  /** A record read from the file: counted, and its page marked wanted for the writer to cache (W1). */
  private missed(lsn: number): void {
    this.misses++;
    const at = Atomics.add(this.wanted, WantedWord.HEAD, 1) & (WANTED_SLOTS - 1);
    Atomics.store(this.wanted, WANTED_BASE + at, pageOf(lsn) + 1);
  }

  /** keyEquals in one version window of one resident page: 1 equal, -1 not, 0 undecided (read it another way). */
  private keyEqualsInPage(lsn: number, namespace: number, bytes: Uint8Array, start: number, len: number): number {
    const page = Math.floor(lsn / FRAME_BYTES);
    const inPage = lsn - page * FRAME_BYTES;
    if (inPage + RECORD_HEADER_SIZE + len > FRAME_BYTES) return 0;
    const reader = this.reader;
    const frame = reader.locate(this.tableFor(lsn + RECORD_HEADER_SIZE), this.owner, page);
    if (frame < 0) return 0;
    const version = reader.version;
    const dv = reader.dvOf(frame);
    const u8 = reader.bytesOf(frame);
    const at = reader.frameStart(frame) + inPage;
    // Every load stays inside [at, at + header + len), within the frame, whatever a racing writer left there.
    let equal = recordKeyLen(dv, at) === len && recordNamespace(dv, at) === namespace;
    for (let i = 0, k = at + RECORD_HEADER_SIZE; equal && i < len; i++, k++) equal = u8[k] === bytes[start + i];
    let valueLen = -1;
    let valueStart = 0;
    let expiresAt = 0;
    if (equal && this.captureMatches) {
      // The value, copied in the same window. Its length may be another page's until the confirm: it is bounded by
      // the rest of this frame before it sizes anything, so every load stays inside the frame (a value that runs
      // past the page is left to the lookup's copy of the whole record).
      const valueAt = at + RECORD_HEADER_SIZE + len;
      const n = recordValueLen(dv, at);
      if ((u8[at + RECORD.FLAGS]! & RECORD_FLAG_ENCRYPTED) === 0 && n <= FRAME_BYTES - (inPage + RECORD_HEADER_SIZE + len)) {
        expiresAt = readU64(dv, at + RECORD.EXPIRES_AT);
        valueStart = this.copyWords(reader.wordsOf(frame), valueAt, n);
        valueLen = n;
      }
    }
    if (!reader.confirm(frame, version)) return 0;
    if (valueLen >= 0) {
      this.hits++;
      this.capturedLsn = lsn;
      this.valU8 = this.valScratch;
      this.valStart = valueStart;
      this.valLen = valueLen;
      this.valExpiresAt = expiresAt;
    }
    return equal ? 1 : -1;
  }

  /**
   * Copies chunk bytes [from, from + n) into valScratch by whole Int32 words
   * (~3x faster than a set() from shared memory: V8 copies a shared source
   * byte by byte); returns where byte `from` landed (from & 3). The words
   * read lie in the frame that holds the bytes: frames start and end on a
   * word, and [from, from + n) is inside one.
   */
  private copyWords(src: Int32Array, from: number, n: number): number {
    const first = from >>> 2;
    const words = ((from + n + 3) >>> 2) - first;
    if (this.valWords.length < words) {
      let size = this.valScratch.length;
      while (size < words * 4) size *= 2;
      this.valScratch = new Uint8Array(size);
      this.valWords = new Int32Array(this.valScratch.buffer);
    }
    const dst = this.valWords;
    for (let i = 0; i < words; i++) dst[i] = src[first + i]!;
    return from & 3;
  }

  /**
   * The value of a match keyEquals did not capture (its record crosses a
   * page, or its header and key were gathered from two frames): the whole
   * record copied as recordAt does, then served from the ring.
   */
  captureRecord(lsn: number): void {
    this.copyRecord(lsn);
    const dv = this.lastDv;
    this.capturedLsn = lsn;
    this.valU8 = this.lastU8;
    this.valStart = RECORD_HEADER_SIZE + recordKeyLen(dv, 0);
    this.valLen = recordValueLen(dv, 0);
    this.valExpiresAt = recordExpiresAt(dv, 0);
  }

  /**
   * The hit path: a record wholly inside one resident page is copied in one
   * version window (one locate and one confirm, F2) with its lengths read
   * from the frame itself; -1 when it is not (another page, not resident, or
   * reassigned meanwhile), and the caller copies across pages or reads the file.
   */
  private copyWithinPage(lsn: number, slot: number): number {
    const page = Math.floor(lsn / FRAME_BYTES);
    const inPage = lsn - page * FRAME_BYTES;
    if (inPage + RECORD_HEADER_SIZE > FRAME_BYTES) return -1;
    const reader = this.reader;
    const frame = reader.locate(this.tableFor(lsn + RECORD_HEADER_SIZE), this.owner, page);
    if (frame < 0) return -1;
    const version = reader.version;
    const dv = reader.dvOf(frame);
    const at = reader.frameStart(frame) + inPage;
    const keyLen = recordKeyLen(dv, at);
    const valueLen = recordValueLen(dv, at);
    // Bytes read before the confirm may be another page's: bounded before they size anything.
    if (keyLen > MAX_KEY_BYTES || valueLen > MAX_VALUE_BYTES) return -1;
    const total = RECORD_HEADER_SIZE + storedPayloadSize(recordFlags(dv, at), keyLen, valueLen);
    if (inPage + total > FRAME_BYTES) return -1;
    this.slotOf(slot, total).set(reader.bytesOf(frame).subarray(at, at + total));
    return reader.confirm(frame, version) ? total : -1;
  }

  /** Forgets the copies of records (the writer: it rewrites LSNs past the end after a rolled-back append). */
  forgetCopies(): void {
    this.lastLsn = -1;
    this.fetch.forget();
    this.sealed?.forget();
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
function readThroughFile(file: Int32Array, into: Uint8Array, position: number, read: ReadAt, once = false): number {
  Atomics.add(file, GenerationFileWord.IN_FLIGHT, 1);
  try {
    const fd = Atomics.load(file, GenerationFileWord.FD);
    if (fd < 0) throw new GenerationRetired();
    let done = 0;
    while (done < into.length) {
      const n = read(fd, into, done, into.length - done, position + done);
      if (n <= 0) break;
      done += n;
      if (once) break;
    }
    return done;
  } finally {
    Atomics.sub(file, GenerationFileWord.IN_FLIGHT, 1);
  }
}

/** Step 1's accessor over FramedReads, for both framed views: the record copied into the ring, at offset 0. */
export function framedRecordAt(view: MirrorView, reads: FramedReads, lsn: number): number {
  reads.copyRecord(lsn);
  view.recU8 = reads.lastU8;
  view.recDv = reads.lastDv;
  return 0;
}

/** The probe's comparison over FramedReads; on a match the value starts after the key in the copy residentRecordAt makes. */
export function framedKeyEquals(view: MirrorView, reads: FramedReads, lsn: number, namespace: number, bytes: Uint8Array, start: number, len: number): boolean {
  if (!reads.keyEquals(lsn, namespace, bytes, start, len)) return false;
  view.keyEnd = RECORD_HEADER_SIZE + len;
  return true;
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
    this.reads.captureMatches = true;
    this.stableRecords = false;
  }

  /**
   * The lookup's probe (SharedView.lookup): the LSN of the live record of
   * (namespace, key) or -1; on a match, its value and deadline are in
   * reads.valU8 / valStart / valLen / valExpiresAt (valid until this thread's
   * next lookup or record read). A match in one resident page was compared
   * and its value copied in one version window (F2); any other is served
   * from a copy of the whole record (framedRecordAt's).
   */
  lookupValue(index: IndexView, namespace: number, key: Uint8Array, start: number, len: number, hash: number): number {
    const reads = this.reads;
    reads.capturedLsn = -1;
    const lsn = index.find(this, namespace, key, start, len, hash);
    if (lsn >= 0 && reads.capturedLsn !== lsn) reads.captureRecord(lsn);
    return lsn;
  }

  /** The values lookupValue leaves (FramedReads' capture fields). */
  get captured(): FramedReads {
    return this.reads;
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

  override coverRecord(end: number): boolean {
    return end <= this.recU8.length;
  }

  override keyEquals(lsn: number, namespace: number, bytes: Uint8Array, start: number, len: number): boolean {
    return framedKeyEquals(this, this.reads, lsn, namespace, bytes, start, len);
  }

  override logBytes(lsn: number, maxLen: number): Uint8Array {
    const { file, readAt } = this.reads;
    // Sealed: one unit per chunk (a read stops at its unit's end). A scan asks again from where a chunk ended,
    // often inside it: a megabyte per call opened ~60 units to use a few and opened them again on the next call.
    const once = this.framed.sealed !== undefined;
    return this.reads.linear(lsn, maxLen, (into, position) => readThroughFile(file, into, position, readAt, once));
  }

  /** Records served from frames and from the file by this view. */
  get cacheHits(): number {
    return this.reads.hits;
  }

  get cacheMisses(): number {
    return this.reads.misses;
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
