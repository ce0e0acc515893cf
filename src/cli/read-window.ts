/**
 * A sliding read window over a database file, for the CLI's own walks of the
 * log (verify-walk.ts, salvage-walk.ts): records are checked in place, and
 * the window grows for a record bigger than it.
 */
import fs from 'node:fs';
import { DATA_START, RECORD_HEADER_SIZE, SEAL_KIND } from '../format/constants.js';
import { assertWholeHeader } from '../format/header.js';
import { RECORD_MAGIC_BYTES, type LogBytes, type RecordBytes } from '../format/damage-scan.js';
import { checkRecord, frameSize } from '../format/record.js';

export const WINDOW = 8 << 20;

/**
 * The 12 KiB header area of the open file `fd`; a file cut inside it is
 * refused here (assertWholeHeader), which would otherwise read as zeros there:
 * an empty slot, a log of nothing, "ok".
 */
export function readHeaderArea(fd: number, path: string): Buffer {
  const header = Buffer.alloc(DATA_START);
  let got = 0;
  for (let n = -1; n !== 0 && got < DATA_START; got += n) n = fs.readSync(fd, header, got, DATA_START - got, got);
  assertWholeHeader(header, got, path);
  return header;
}

/** A sliding read window over the file: records are checked in place, bigger ones grow it (verify-walk.ts and salvage-walk.ts read with it). */
export class Window {
  buf = Buffer.allocUnsafe(WINDOW);
  dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  /** File offset of buf[0] and of the end of the valid bytes. */
  start = 0;
  end = 0;

  constructor(
    private readonly fd: number,
    readonly fileBytes: number,
  ) {}

  /** Makes [off, off + len) (clamped to the file) resident; returns the offset of `off` in buf. */
  ensure(off: number, len: number): number {
    const want = Math.min(off + len, this.fileBytes);
    if (off >= this.start && want <= this.end) return off - this.start;
    if (want - off > this.buf.length) {
      this.buf = Buffer.allocUnsafe(want - off);
      this.dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    }
    this.start = off;
    this.end = off;
    const upTo = Math.min(this.fileBytes, off + this.buf.length);
    while (this.end < upTo) {
      const n = fs.readSync(this.fd, this.buf, this.end - off, upTo - this.end, this.end);
      if (n === 0) break;
      this.end += n;
    }
    return 0;
  }

  /**
   * The structural check (header fields, no CRC) of the record at window
   * offset `at`, judged against the file's end: the window may end inside a
   * record the file holds whole, which is no truncation (ensure() then makes
   * it resident for the CRC check).
   */
  checkFrame(at: number, maxKind: number): number {
    const resident = this.end - this.start;
    return checkRecord(this.buf, this.dv, at, resident - at < RECORD_HEADER_SIZE ? resident : at + (this.fileBytes - (this.start + at)), false, maxKind);
  }
}

/**
 * The file's bytes as the shared damage scan reads them (format/damage-scan.ts),
 * through a window of their own: the walk's window may hold records decrypted
 * in place, and the scan must see the bytes on disk, as recovery does.
 */
export function windowBytes(fd: number, fileBytes: number): LogBytes {
  const w = new Window(fd, fileBytes);
  return {
    fileSize: fileBytes,
    findMagic(from: number): number {
      for (let pos = from; pos < fileBytes; ) {
        const off = w.ensure(pos, WINDOW);
        const avail = w.end - w.start;
        const hit = w.buf.subarray(0, avail).indexOf(RECORD_MAGIC_BYTES, off);
        if (hit >= 0) return w.start + hit;
        if (w.end >= fileBytes) break;
        // A magic cut by the window's end is found by the next window.
        pos = w.start + Math.max(off + 1, avail - (RECORD_MAGIC_BYTES.length - 1));
      }
      return -1;
    },
    recordAt(lsn: number): RecordBytes {
      const at = w.ensure(lsn, RECORD_HEADER_SIZE);
      // Only a header whose fields pass is read whole: garbage lengths would ask for up to 64 MiB.
      const frame = w.checkFrame(at, SEAL_KIND);
      const off = frame > 0 ? w.ensure(lsn, frameSize(w.dv, at)) : at;
      return { u8: w.buf, dv: w.dv, off, end: w.end - w.start };
    },
  };
}
