import { MAX_RECORD_BYTES, RECORD_HEADER_SIZE } from '../format/constants.js';
import { frameSize } from '../format/record.js';
import { preadFully, type ReadAt } from './record-fetch.js';
import { newUnitDirectory, SealedReader, UnitDirectory, walkItems } from './sealed-file.js';
import { FileRecords, UnsegmentedLog } from './unsegmented-log.js';

/** Bytes read into the window at a time (a record longer than this gets a window of its own size). */
const WINDOW_BYTES = 4 << 20;
/** A magic the damage scan looks for is 4 bytes: consecutive windows overlap by 3 so none is cut in two. */
const MAGIC_OVERLAP = 3;

/**
 * An open's view of a log it replays when the database reads through the page
 * cache (docs/DESIGN.md, "Bounded page cache"): instead of the whole file in a
 * mirror, a window of a few MiB slides along it. The replay's walk, its damage
 * scan and the prefix CRC pass read the file in order through the window
 * (walkAt, logBytes); a record the applies read again after the window moved
 * on (a superseded record's size, a key compared on a hash match) is read with
 * one pread, checked against its CRC (RecordFetch). The engine frames the log
 * as soon as open returns (LogWriter.useFrames) and closes this; nothing else
 * reads it, and nothing writes to it.
 */
export class WindowedLog extends UnsegmentedLog {
  private window = new Uint8Array(0);
  private windowDv = new DataView(this.window.buffer);
  private winFrom = 0;
  private winLen = 0;
  private readonly file: FileRecords;
  /**
   * Sealed: the walk has decrypted every unit in [plainFrom, plainTo) (it
   * walks in order). The window shows those bytes in plaintext whenever it
   * holds them, loading them again through the sealed reader: a
   * transaction's check reads its whole body ahead (units decrypted as it
   * goes) and its apply then walks the body again from its start.
   */
  private plainFrom = Infinity;
  private plainTo = 0;
  private readonly sealedRead: ReadAt | undefined;

  constructor(
    readFd: number,
    private readonly read: ReadAt,
    private readonly fileSize: number,
    closeFd: (fd: number) => void,
    seal?: { cipher: number; key: Uint8Array; units?: { items: Float64Array; tail: number } },
  ) {
    super();
    if (seal) {
      const directory = new UnitDirectory(newUnitDirectory(fileSize));
      // A lazy open: the snapshot's entries stand for the items before its tail, and only the file after it is walked.
      if (seal.units) directory.loadEntries(seal.units.items, seal.units.tail);
      // Openers and durable marks are plaintext in the file: the walk stops where they stop parsing (residue or
      // damage, which the replay finds and reports; nothing past it is read again).
      walkItems(readFd, read, fileSize, directory, seal.units?.tail);
      // Sealed: noted from the file's plaintext openers before the replay, so records read again after the window
      // moved on are decrypted (sealed-file.ts); the frames reuse it.
      this.unitDirectory = directory;
      this.sealedRead = new SealedReader({ ...seal, directory: directory.sab }, read).read;
      this.file = new FileRecords(readFd, this.sealedRead, closeFd);
    } else {
      this.sealedRead = undefined;
      this.file = new FileRecords(readFd, read, closeFd);
    }
  }

  override shareable(): never {
    throw new Error('a windowed log is never shared: open frames the log before publishing it');
  }

  /**
   * The window, holding `lsn` and, when the bytes there claim to be a record
   * header, as much of the claimed record as the file has (the walk's checks
   * are bounded by the view's end, so a record cut by the window would look
   * torn). Garbage claims at most MAX_RECORD_BYTES.
   */
  override walkAt(lsn: number): number {
    if (!this.holds(lsn, RECORD_HEADER_SIZE)) this.load(lsn, WINDOW_BYTES);
    const at = lsn - this.winFrom;
    if (at + RECORD_HEADER_SIZE <= this.winLen) {
      const claimed = Math.min(MAX_RECORD_BYTES, frameSize(this.windowDv, at));
      if (!this.holds(lsn, claimed)) this.load(lsn, Math.max(WINDOW_BYTES, claimed));
    }
    this.walkU8 = this.window.subarray(0, this.winLen);
    this.walkDv = this.windowDv;
    return lsn - this.winFrom;
  }

  /**
   * How far past the start of the last walkAt view the damage scan may trust
   * it before asking for the next view (the whole-log mirror's segments span
   * SEGMENT_SPAN): the window, less the bytes a magic cut by its end needs.
   */
  override get walkSpan(): number {
    return this.winFrom + this.winLen >= this.fileSize ? this.winLen : Math.max(1, this.winLen - MAGIC_OVERLAP);
  }

  override residentRecordAt(lsn: number): number {
    const at = lsn - this.winFrom;
    // Sealed: the window holds the file's bytes but for the units the walk decrypted.
    if (at >= 0 && at + RECORD_HEADER_SIZE <= this.winLen && (!this.unitDirectory || this.decrypted(lsn, at))) {
      if (at + frameSize(this.windowDv, at) <= this.winLen) {
        this.recU8 = this.window;
        this.recDv = this.windowDv;
        return at;
      }
    }
    // Read again after the window moved on: only records the walk has checked and applied are read this way.
    return this.file.resolve(this, lsn);
  }

  override recordAt(lsn: number): number {
    return this.residentRecordAt(lsn);
  }

  /** Up to `maxLen` bytes of the file from `lsn`, through the window (the prefix CRC pass reads the log in order). */
  override logBytes(lsn: number, maxLen: number): Uint8Array {
    if (!this.holds(lsn, 1)) this.load(lsn, WINDOW_BYTES);
    const at = lsn - this.winFrom;
    return this.window.subarray(at, Math.min(this.winLen, at + maxLen));
  }

  /**
   * Recovery's decryption of a sealed unit's region (log-crypt.ts): the
   * plaintext replaces the region in the window, which is first loaded to
   * hold the whole region, so the walk through its records finds them there
   * without loading again (a load would bring the ciphertext back).
   */
  override write(lsn: number, bytes: Uint8Array): void {
    if (!this.unitDirectory) throw new Error('a windowed log is never written: open frames the log before the first append');
    if (!this.holds(lsn, bytes.length) || lsn + bytes.length > this.winFrom + this.winLen) this.load(lsn, Math.max(WINDOW_BYTES, bytes.length));
    this.window.set(bytes, lsn - this.winFrom);
    this.plainFrom = Math.min(this.plainFrom, lsn);
    this.plainTo = Math.max(this.plainTo, lsn + bytes.length);
  }

  /** Whether the record at `lsn` (window offset `at`) lies in the decrypted part of the log. */
  private decrypted(lsn: number, at: number): boolean {
    return lsn >= this.plainFrom && lsn + frameSize(this.windowDv, at) <= this.plainTo;
  }

  override writeRecords(): boolean {
    throw new Error('a windowed log is never written: open frames the log before the first append');
  }

  override rewritten(): void {
    throw new Error('a windowed log is never rewritten');
  }

  /** Closes the read descriptor (open has framed the log, or failed). */
  close(): void {
    this.file.close();
  }

  /** Whether the window holds [lsn, lsn + len), or all the file has of it. */
  private holds(lsn: number, len: number): boolean {
    const at = lsn - this.winFrom;
    if (at < 0 || at >= this.winLen) return false;
    return lsn + len <= this.winFrom + this.winLen || this.winFrom + this.winLen >= this.fileSize;
  }

  /** Reads [lsn, lsn + len) of the file (less at its end) into the window. */
  private load(lsn: number, len: number): void {
    const want = Math.max(0, Math.min(len, this.fileSize - lsn));
    if (this.window.length < want) {
      this.window = new Uint8Array(Math.max(want, WINDOW_BYTES));
      this.windowDv = new DataView(this.window.buffer);
    }
    const fd = this.file.fd;
    if (fd < 0) throw new Error('the windowed log was read after it was closed');
    // Sealed: what the walk decrypted comes back decrypted (the units are authenticated again on the way).
    const plainPart = this.sealedRead && lsn < this.plainTo ? Math.min(want, this.plainTo - lsn) : 0;
    let got = plainPart > 0 ? preadFully(this.sealedRead!, fd, this.window, 0, plainPart, lsn) : 0;
    if (got === plainPart) got += preadFully(this.read, fd, this.window, got, want - got, lsn + got);
    this.winFrom = lsn;
    this.winLen = got;
  }
}
