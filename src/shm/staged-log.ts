import { DATA_START } from '../format/constants.js';
import type { ReadAt } from './record-fetch.js';
import { newUnitDirectory, SealedReader, UnitDirectory } from './sealed-file.js';
import { FileRecords, UnsegmentedLog } from './unsegmented-log.js';

/**
 * A compaction's new log when the database reads through the page cache
 * (docs/DESIGN.md, "Bounded page cache"): only the bytes not yet written to
 * the temp file are held here, in a private buffer of a few MiB; records
 * before them are read back from the temp file, one pread each, checked
 * against their CRC (RecordFetch). So building the new log costs memory in
 * proportion to the job's write chunk, not to the live data, which a
 * whole-log mirror of the new log cost.
 *
 * Nobody but the writer reads it: the new generation is published only after
 * the swap, framed (LogWriter.useFrames), and this object is closed then.
 * Who reads it before that: the job's applies (a superseded record's size,
 * keys compared on a hash match) and the sorted index's relocation.
 */
export class StagedLog extends UnsegmentedLog {
  /** Bytes [stageFrom, stageFrom + staged) of the new log; earlier ones are in the file. */
  private stage = new Uint8Array(1 << 20);
  private stageDv = new DataView(this.stage.buffer);
  private stageFrom = DATA_START;
  private staged = 0;
  /** The header pages the job writes last (a copy for slice(); the file gets its own). */
  private header = new Uint8Array(0);
  private readonly file: FileRecords;

  /** `seal`: the new log is encrypted in units (its own file key): records read back are decrypted (sealed-file.ts). */
  constructor(readFd: number, read: ReadAt, closeFd: (fd: number) => void, seal?: { cipher: number; key: Uint8Array }) {
    super();
    if (seal) {
      const directory = new UnitDirectory(newUnitDirectory(DATA_START));
      this.unitDirectory = directory;
      this.file = new FileRecords(readFd, new SealedReader({ ...seal, directory: directory.sab }, read).read, closeFd);
    } else {
      this.file = new FileRecords(readFd, read, closeFd);
    }
  }

  /** A sealed batch (its mirror form) placed at `lsn`: its units are noted, readable once flushed (U1, U2). */
  noteSealed(lsn: number, mirror: Uint8Array): void {
    this.unitDirectory?.noteBytes(lsn, mirror);
  }

  override shareable(): never {
    throw new Error('a staged log is never shared: the swap frames the new log before publishing it');
  }

  override residentRecordAt(lsn: number): number {
    if (lsn >= this.stageFrom) {
      this.recU8 = this.stage;
      this.recDv = this.stageDv;
      return lsn - this.stageFrom;
    }
    // Below the stage the record is in the temp file.
    return this.file.resolve(this, lsn);
  }

  override recordAt(lsn: number): number {
    return this.residentRecordAt(lsn);
  }

  /** Bytes of the stage from `lsn` (the job's writes to the temp file); the header's copy below DATA_START. */
  override logBytes(lsn: number, maxLen: number): Uint8Array {
    if (lsn < DATA_START) return this.header.subarray(lsn, Math.min(this.header.length, lsn + maxLen));
    if (lsn < this.stageFrom) throw new RangeError(`log byte ${lsn} of a staged log is in the file already`);
    const at = lsn - this.stageFrom;
    return this.stage.subarray(at, Math.min(this.staged, at + maxLen));
  }

  /** Makes room for `len` bytes at `lsn` (at the stage's end); false: no segment is ever added. */
  override reserve(lsn: number, len: number): boolean {
    const need = lsn + len - this.stageFrom;
    if (need > this.stage.length) {
      let size = this.stage.length;
      while (size < need) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.stage.subarray(0, this.staged));
      this.stage = next;
      this.stageDv = new DataView(next.buffer);
    }
    return false;
  }

  override write(lsn: number, bytes: Uint8Array): void {
    if (lsn < DATA_START) {
      this.header = bytes.slice();
      return;
    }
    this.reserve(lsn, bytes.length);
    this.stage.set(bytes, lsn - this.stageFrom);
    this.staged = Math.max(this.staged, lsn + bytes.length - this.stageFrom);
  }

  override writeRecords(lsn: number, batch: Uint8Array): boolean {
    this.write(lsn, batch);
    return false;
  }

  /** The job's records are edited in the stage before they reach the file: nothing to do. */
  override rewritten(): void {}

  /**
   * Bytes before `to` are in the temp file now (the job wrote its whole stage):
   * the stage starts over at `to`. The caller holds no view of the stage.
   */
  flushed(to: number): void {
    if (to !== this.stageFrom + this.staged) throw new RangeError(`a staged log is flushed whole (to ${this.stageFrom + this.staged}, not ${to})`);
    this.stageFrom = to;
    this.staged = 0;
    this.unitDirectory?.publishTo(to);
  }

  /** Closes the temp file's read descriptor (after the swap, or when the job is given up). */
  close(): void {
    this.file.close();
  }
}
