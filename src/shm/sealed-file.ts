import { aeadFor, cipherById } from '../crypto/aead.js';
import { UnitOpener } from '../crypto/unit-open.js';
import { EmdbError, ErrorCode } from '../errors.js';
import { DATA_START, RECORD, RECORD_CRC_START, RECORD_HEADER_SIZE, RECORD_MAGIC, RecordKind, SEAL_RECORD_SIZE } from '../format/constants.js';
import { storedPayloadSize } from '../format/record-fields.js';
import { isOpener, readOpener } from '../format/seal-opener.js';
import { FRAME_BYTES } from './frame-pool.js';
import { UnitDirectoryWord } from './layout.js';
import { nativeCrc32 } from './native-crc.js';
import { preadFully, type ReadAt } from './record-fetch.js';

/**
 * What a thread needs to read a sealed (record scheme 2) log generation
 * through the page cache (docs/DESIGN.md, "Bounded page cache", step 5): the
 * generation's records subkey and cipher, and its unit directory. Part of the
 * generation's FramedSpec, so of the buffer set: whoever holds a handle holds
 * the key (FORMAT.md, "Threat model").
 */
export interface SealedSpec {
  /** Cipher id of the prelude (CIPHER_ID). */
  cipher: number;
  /** The generation's records subkey (HKDF of the master key with its file id). */
  key: Uint8Array;
  /** The unit directory (rules U1–U3 in layout.ts): a growable SharedArrayBuffer of BigInt64 words. */
  directory: SharedArrayBuffer;
}

/** A new generation's unit directory, sized for a log of `bytes` (it grows with the log). */
export function newUnitDirectory(bytes: number, maxBytes = 2 ** 40): SharedArrayBuffer {
  const words = (pages: number): number => (UnitDirectoryWord.FIRST_PAGE + pages + 1) * BigInt64Array.BYTES_PER_ELEMENT;
  return new SharedArrayBuffer(words(Math.ceil(bytes / FRAME_BYTES)), { maxByteLength: words(Math.ceil(maxBytes / FRAME_BYTES)) });
}

/** Bytes of the top-level item (a unit, opener and region, or a durable mark) whose header is at `off`; -1 when it is neither. */
function itemSize(dv: DataView, off: number): number {
  if (dv.getUint32(off + RECORD.MAGIC, true) !== RECORD_MAGIC) return -1;
  if (isOpener(dv, off)) {
    const fields = readOpener(dv, off);
    return typeof fields === 'number' ? -1 : fields.size + fields.bytes;
  }
  return dv.getUint8(off + RECORD.KIND) === RecordKind.DURABLE_MARK && dv.getUint8(off + RECORD.FLAGS) === 0 ? RECORD_HEADER_SIZE + storedPayloadSize(0, dv.getUint32(off + RECORD.KEY_LEN, true), dv.getUint32(off + RECORD.VALUE_LEN, true)) : -1;
}

/**
 * The writer's side of a unit directory: notes where each top-level item of
 * the mirror form starts as the log is framed and appended to (U1), so a
 * thread that misses a page knows where to start reading to decrypt it.
 */
export class UnitDirectory {
  private words: BigInt64Array;
  /** Where the next top-level item starts: everything before it is noted. */
  private next = DATA_START;

  constructor(readonly sab: SharedArrayBuffer) {
    this.words = new BigInt64Array(sab);
  }

  /**
   * Notes the items of mirror-form bytes appended at `lsn` (whole items: a
   * batch). An `lsn` before the end noted so far rewrites LSNs an append that
   * failed had used (an append cut back after ENOSPC): noting starts again there.
   */
  noteBytes(lsn: number, bytes: Uint8Array): void {
    if (lsn < this.next) this.next = lsn;
    if (lsn !== this.next) throw new Error(`unit directory: an append at ${lsn} skips the items from ${this.next}`);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let off = 0; off < bytes.length; ) {
      const size = off + RECORD_HEADER_SIZE <= bytes.length ? itemSize(dv, off) : -1;
      if (size <= 0 || off + size > bytes.length) throw new Error(`unit directory: no whole unit or durable mark at ${lsn + off}`);
      this.noteItem(lsn + off, size);
      off += size;
    }
  }

  /** U2: the file holds the log up to `end` now (the append's write returned); readers may read up to it. */
  publishTo(end: number): void {
    Atomics.store(this.words, UnitDirectoryWord.END, BigInt(Math.min(end, this.next)));
  }

  /** Notes one item of `size` bytes at `lsn`, the next one (the open's walk of a file's plaintext openers). */
  noteBytesOf(lsn: number, size: number): void {
    if (lsn !== this.next) throw new Error(`unit directory: an item at ${lsn} skips the items from ${this.next}`);
    this.noteItem(lsn, size);
  }

  /** Notes the items of a log whose mirror form `headerAt` reads ([from, to): open, compaction, a switch to frames). */
  noteLog(from: number, to: number, headerAt: (lsn: number) => DataView | undefined): void {
    this.next = from;
    for (let lsn = from; lsn < to; ) {
      const dv = headerAt(lsn);
      const size = dv ? itemSize(dv, 0) : -1;
      if (size <= 0) throw new EmdbError(ErrorCode.CORRUPTION, `corrupt log at offset ${lsn}: no sealed unit or durable mark starts there`, { offset: lsn });
      this.noteItem(lsn, size);
      lsn += size;
    }
    this.publishTo(to);
  }

  /**
   * The words of the pages that start before `tail` (an item boundary the
   * directory has noted): what an index snapshot saves, so the next open
   * need not walk the file to find its units.
   */
  entries(tail: number): Float64Array {
    if (tail > this.next) throw new Error(`unit directory: entries asked up to ${tail}, noted up to ${this.next}`);
    const items = new Float64Array(Math.ceil(tail / FRAME_BYTES));
    for (let page = 0; page < items.length; page++) items[page] = Number(Atomics.load(this.words, UnitDirectoryWord.FIRST_PAGE + page));
    return items;
  }

  /**
   * Notes the log [DATA_START, tail) from a snapshot's entries (one per page
   * that starts before `tail`, `entries` above) instead of from the file:
   * the snapshot was sealed under this file's key, so they are the writer's own.
   */
  loadEntries(items: Float64Array, tail: number): void {
    if (items.length !== Math.ceil(tail / FRAME_BYTES)) throw new Error(`unit directory: ${items.length} entries for a log of ${tail} bytes`);
    if (items.length > 0) this.grow(items.length - 1);
    for (let page = 0; page < items.length; page++) Atomics.store(this.words, UnitDirectoryWord.FIRST_PAGE + page, BigInt(items[page]!));
    this.next = tail;
  }

  /** U1: every page whose first byte lies in [lsn, lsn + size) starts its reads at `lsn`. */
  private noteItem(lsn: number, size: number): void {
    const first = lsn <= DATA_START ? 0 : Math.ceil(lsn / FRAME_BYTES);
    const last = Math.floor((lsn + size - 1) / FRAME_BYTES);
    for (let page = first; page <= last; page++) {
      this.grow(page);
      Atomics.store(this.words, UnitDirectoryWord.FIRST_PAGE + page, BigInt(lsn));
    }
    this.next = lsn + size;
  }

  private grow(page: number): void {
    const need = (UnitDirectoryWord.FIRST_PAGE + page + 1) * BigInt64Array.BYTES_PER_ELEMENT;
    if (need <= this.sab.byteLength) return;
    this.sab.grow(Math.min(this.sab.maxByteLength, Math.max(need, this.sab.byteLength * 2)));
    // A view made without a length tracks the buffer's growth: no new view needed, here or on other threads.
  }
}

/**
 * Reads the header of the item at `lsn` into `header` (SEAL_RECORD_SIZE
 * bytes) and returns the item's size; -1 when the file holds no whole header
 * of a unit or durable mark there (cut short, or something else).
 */
function itemAt(read: ReadAt, fd: number, lsn: number, header: Uint8Array, dv: DataView): number {
  const got = preadFully(read, fd, header, 0, SEAL_RECORD_SIZE, lsn);
  if (got < RECORD_HEADER_SIZE || (isOpener(dv, 0) && got < SEAL_RECORD_SIZE)) return -1;
  return itemSize(dv, 0);
}

/**
 * Notes the items of a sealed log file in `directory` from its plaintext
 * openers and durable marks (one pread of a header per item), from `from`
 * (the first record, or where a snapshot's entries end) to where they stop
 * parsing or the file ends; publishes that end.
 */
export function walkItems(fd: number, read: ReadAt, fileSize: number, directory: UnitDirectory, from = DATA_START): void {
  const header = new Uint8Array(SEAL_RECORD_SIZE);
  const dv = new DataView(header.buffer);
  let lsn = from;
  while (lsn + RECORD_HEADER_SIZE <= fileSize) {
    const size = itemAt(read, fd, lsn, header, dv);
    if (size <= 0 || lsn + size > fileSize) break;
    directory.noteBytesOf(lsn, size);
    lsn += size;
  }
  directory.publishTo(lsn);
}

/** The span's first size: a unit of 16 KiB (64 KiB in older files) and its opener. */
const SPAN_BYTES = 64 * 1024 + SEAL_RECORD_SIZE;

/**
 * A thread's plaintext view of a sealed generation's file (the mirror form:
 * the file bytes with each unit's region decrypted), as a ReadAt that the
 * record fetch, the page fill and the linear reads use unchanged. A read
 * starts at the item the directory names for its page, steps header by
 * header to the unit that holds its first byte, reads that unit whole,
 * checks its opener's CRC and authenticates the region (AEAD;
 * ERR_EMDB_CORRUPTION with the unit's offset when it fails), and keeps it: a
 * thread that misses several records of one unit opens it once. A read
 * returns at most through that unit's end, and never past the directory's
 * end (U2), where the writer has not noted or not yet written the bytes (a
 * preallocated tail reads as zeros).
 */
export class SealedReader {
  private readonly unit: UnitOpener;
  private readonly words: BigInt64Array;
  private span = new Uint8Array(SPAN_BYTES);
  private spanDv = new DataView(this.span.buffer);
  /** The span holds the mirror form of [spanFrom, spanTo); its raw read came through descriptor spanFd. */
  private spanFrom = 0;
  private spanTo = 0;
  private spanFd = -1;

  constructor(
    spec: SealedSpec,
    private readonly raw: ReadAt,
  ) {
    const cipher = cipherById(spec.cipher);
    if (!cipher) throw new EmdbError(ErrorCode.CORRUPTION, `unknown cipher id ${spec.cipher}`);
    this.unit = new UnitOpener(aeadFor(cipher), spec.key);
    this.words = new BigInt64Array(spec.directory);
  }

  /** Forgets the last span (the writer rewrites LSNs past the end after a rolled-back append). */
  forget(): void {
    this.spanTo = this.spanFrom;
  }

  /**
   * ReadAt over the mirror form: fills buf[off, off + len) from log position
   * `position`, through the end of the unit (or durable mark) that holds it
   * at most, so a caller that reads a little past its record opens one unit,
   * not two (every caller reads on from where a short read ended); 0 only at
   * the directory's end.
   */
  readonly read: ReadAt = (fd, buf, off, len, position) => {
    const end = Math.min(position + len, Number(Atomics.load(this.words, UnitDirectoryWord.END)));
    let at = position;
    if (at < DATA_START) {
      // The prelude and header slots are not sealed.
      const n = Math.min(end, DATA_START) - at;
      const got = n > 0 ? preadFully(this.raw, fd, buf, off, n, at) : 0;
      if (got < n) return got;
      at += n;
    }
    if (at < end) {
      if (fd !== this.spanFd || at < this.spanFrom || at >= this.spanTo) this.load(fd, at);
      const n = Math.min(end, this.spanTo) - at;
      buf.set(this.span.subarray(at - this.spanFrom, at - this.spanFrom + n), off + (at - position));
      at += n;
    }
    return Math.max(0, at - position);
  };

  /**
   * Makes the span hold the mirror form of the item that holds `at`: from
   * the item the directory names for at's page (U3), or from the end of the
   * last span when that is nearer (a reader going through a page), it reads
   * headers only (one small pread each) up to that item, then reads it whole
   * and opens it.
   */
  private load(fd: number, at: number): void {
    let item = Number(Atomics.load(this.words, UnitDirectoryWord.FIRST_PAGE + Math.floor(at / FRAME_BYTES)));
    if (item < DATA_START || item > at) throw damaged(at, 'the unit directory has no unit there');
    if (fd === this.spanFd && this.spanTo > item && this.spanTo <= at) item = this.spanTo;
    this.spanFd = -1;
    let size: number;
    for (;;) {
      size = this.headerSize(fd, item);
      if (item + size > at) break;
      item += size;
    }
    this.reserve(size);
    if (preadFully(this.raw, fd, this.span, 0, size, item) < size) throw damaged(item, 'it is cut short');
    this.openItem(item, 0, size);
    this.spanFrom = item;
    this.spanTo = item + size;
    this.spanFd = fd;
  }

  /** The size of the item whose header is at `lsn` (a pread of its header alone). */
  private headerSize(fd: number, lsn: number): number {
    const size = itemAt(this.raw, fd, lsn, this.header, this.headerDv);
    if (size <= 0) throw damaged(lsn, 'no whole sealed unit or durable mark starts there');
    return size;
  }

  private readonly header = new Uint8Array(SEAL_RECORD_SIZE);
  private readonly headerDv = new DataView(this.header.buffer);

  /** Checks the item at span offset `off` (log position `lsn`) and decrypts a unit's region in place. */
  private openItem(lsn: number, off: number, size: number): void {
    const dv = this.spanDv;
    const u8 = this.span;
    if (!isOpener(dv, off)) {
      // A durable mark: plaintext, checked by its CRC.
      if (nativeCrc32()(u8.subarray(off + RECORD_CRC_START, off + size)) >>> 0 !== dv.getUint32(off + RECORD.CRC, true)) throw damaged(lsn, 'its checksum does not match');
      return;
    }
    const fields = readOpener(dv, off);
    if (typeof fields === 'number') throw damaged(lsn, 'its unit opener is invalid');
    const opener = u8.subarray(off, off + fields.size);
    if (nativeCrc32()(opener.subarray(RECORD_CRC_START)) >>> 0 !== dv.getUint32(off + RECORD.CRC, true)) throw damaged(lsn, 'its unit opener fails its checksum');
    const region = u8.subarray(off + fields.size, off + fields.size + fields.bytes);
    // In place: the span's ciphertext becomes the mirror form's plaintext.
    if (!this.unit.openRegionInto(opener, fields, lsn, region, region)) {
      throw new EmdbError(ErrorCode.CORRUPTION, `corrupt log at offset ${lsn}: sealed unit fails authentication (tampered, moved, or sealed under another key)`, { offset: lsn });
    }
  }

  /** Grows the span to hold `len` bytes (its content is read anew). */
  private reserve(len: number): void {
    if (len <= this.span.length) return;
    let size = this.span.length;
    while (size < len) size *= 2;
    this.span = new Uint8Array(size);
    this.spanDv = new DataView(this.span.buffer);
  }

}

function damaged(lsn: number, why: string): EmdbError {
  return new EmdbError(ErrorCode.CORRUPTION, `the sealed log at offset ${lsn} cannot be read: ${why} (a damaged or changed database file)`, { offset: lsn });
}
