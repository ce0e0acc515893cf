import fs from 'node:fs';
import { EmdbError, ErrorCode } from '../errors.js';
import { MAX_KEY_BYTES, MAX_VALUE_BYTES, RECORD, RECORD_CRC_START, RECORD_HEADER_SIZE, RECORD_KNOWN_FLAGS, RECORD_MAGIC } from '../format/constants.js';
import { recordFlags, recordKeyLen, recordValueLen, storedPayloadSize } from '../format/record-fields.js';
import { GENERATION_FILE_WORDS, GenerationFileWord } from './layout.js';
import { nativeCrc32 } from './native-crc.js';

/** pread as fs.readSync has it; the writer passes its FileIO's (test doubles). */
export type ReadAt = (fd: number, buf: Uint8Array, bufOffset: number, len: number, position: number) => number;

/** pread through `read` until `len` bytes are in into[at, ...) or the file ends; returns how many came. */
export function preadFully(read: ReadAt, fd: number, into: Uint8Array, at: number, len: number, position: number): number {
  let done = 0;
  while (done < len) {
    const n = read(fd, into, at + done, len - done, position + done);
    if (n <= 0) break;
    done += n;
  }
  return done;
}

/** First read of a record: most records fit, so one pread serves them (a second reads the rest of a longer one). */
const FIRST_READ_BYTES = 1024;

/** A generation's read descriptor block (rules G1–G3 in layout.ts), shared by every thread holding the generation. */
export function newGenerationFile(fd: number): Int32Array {
  const words = new Int32Array(new SharedArrayBuffer(GENERATION_FILE_WORDS * Int32Array.BYTES_PER_ELEMENT));
  // Published with the buffer set (R4), which orders this store before any reader's loads.
  Atomics.store(words, GenerationFileWord.FD, fd);
  return words;
}

/**
 * Reads one record from the log file when its page is not in the frame pool:
 * a pread on the calling thread into this thread's scratch, checked against the
 * record's own CRC before anything in it is used (the record may sit in a part
 * of the file nobody has read since it was written). One per thread.
 */
export class RecordFetch {
  /** The last fetched record is bytes[0, its length). */
  bytes = new Uint8Array(FIRST_READ_BYTES);
  dv = new DataView(this.bytes.buffer);

  constructor(private readonly read: ReadAt = fs.readSync) {}

  /**
   * Reads the record at `lsn` of the generation whose descriptor block is
   * `file`; returns its length. Throws ERR_EMDB_CORRUPTION (with the offset)
   * when the bytes there are not a whole, intact record, and returns -1 when
   * the generation is retired (G3: the caller syncs its view and looks again).
   */
  fetch(file: Int32Array, lsn: number): number {
    // The probe's key comparison and the value copy of one lookup want the same record: read it once.
    if (lsn === this.lastLsn && file === this.lastFile) return this.lastLen;
    this.lastFile = undefined;
    const len = this.readRecord(file, lsn);
    if (len > 0) {
      this.lastFile = file;
      this.lastLsn = lsn;
      this.lastLen = len;
    }
    return len;
  }

  /** Forgets the last record: the writer rewrites LSNs past the end of the log after a rolled-back append. */
  forget(): void {
    this.lastFile = undefined;
  }

  /** The record at `lsn` of a generation's log, last fetched by this thread (valid until its next fetch). */
  private lastFile: Int32Array | undefined;
  private lastLsn = -1;
  private lastLen = 0;

  private readRecord(file: Int32Array, lsn: number): number {
    Atomics.add(file, GenerationFileWord.IN_FLIGHT, 1);
    try {
      const fd = Atomics.load(file, GenerationFileWord.FD);
      if (fd < 0) return -1;
      const got = this.readAt(fd, 0, FIRST_READ_BYTES, lsn);
      if (got < RECORD_HEADER_SIZE) throw damaged(lsn, 'it is cut short');
      const dv = this.dv;
      if (dv.getUint32(RECORD.MAGIC, true) !== RECORD_MAGIC) throw damaged(lsn, 'no record starts there');
      const flags = recordFlags(dv, 0);
      const keyLen = recordKeyLen(dv, 0);
      const valueLen = recordValueLen(dv, 0);
      if ((flags & ~RECORD_KNOWN_FLAGS) !== 0 || keyLen > MAX_KEY_BYTES || valueLen > MAX_VALUE_BYTES) throw damaged(lsn, 'its header is invalid');
      const total = RECORD_HEADER_SIZE + storedPayloadSize(flags, keyLen, valueLen);
      if (total > got) {
        this.reserve(total);
        if (this.readAt(fd, got, total - got, lsn + got) < total - got) throw damaged(lsn, 'it is cut short');
      }
      if (nativeCrc32()(this.bytes.subarray(RECORD_CRC_START, total)) >>> 0 !== this.dv.getUint32(RECORD.CRC, true)) throw damaged(lsn, 'its checksum does not match');
      return total;
    } finally {
      Atomics.sub(file, GenerationFileWord.IN_FLIGHT, 1);
    }
  }

  /** Reads up to `len` bytes at file position `position` into bytes[at, ...); fewer only at the end of the file. */
  private readAt(fd: number, at: number, len: number, position: number): number {
    return preadFully(this.read, fd, this.bytes, at, len, position);
  }

  /** Grows the scratch to hold `len` bytes, keeping what it holds. */
  private reserve(len: number): void {
    if (len <= this.bytes.length) return;
    let size = this.bytes.length;
    while (size < len) size *= 2;
    const bytes = new Uint8Array(size);
    bytes.set(this.bytes);
    this.bytes = bytes;
    this.dv = new DataView(bytes.buffer);
  }
}

function damaged(lsn: number, why: string): EmdbError {
  return new EmdbError(ErrorCode.CORRUPTION, `the record at log offset ${lsn} cannot be read: ${why} (a damaged or changed database file)`, { offset: lsn });
}

/**
 * The writer's side of G1: retires a generation's descriptor once no iterator
 * pins it (G2) and no pread is in flight; true when it was closed.
 */
export function retireGenerationFile(file: Int32Array, close: (fd: number) => void): boolean {
  // A pinned generation is not touched at all: its iterators have no newer generation to fall back to, and the
  // exchange below would show them FD = -1 until the number is put back.
  if (Atomics.load(file, GenerationFileWord.PINS) !== 0) return false;
  const fd = Atomics.exchange(file, GenerationFileWord.FD, -1);
  if (fd < 0) return true;
  // Loaded after the exchange (seq-cst): a pin or pread not seen here comes later in the total order, so it loads FD = -1.
  if (Atomics.load(file, GenerationFileWord.PINS) !== 0 || Atomics.load(file, GenerationFileWord.IN_FLIGHT) !== 0) {
    // Still in use: put the number back and try again on a later turn.
    Atomics.store(file, GenerationFileWord.FD, fd);
    return false;
  }
  close(fd);
  return true;
}
