import { crc32 } from '@node-rs/crc32';
import { ioError } from '../errors.js';
import { DATA_START, LOG_PAGE_BYTES } from '../format/constants.js';
import { writeFully, type FileIO } from '../log/file-io.js';

/**
 * The temp file `<path>.compact` a compaction job writes (writer/compaction-job.ts):
 * large sequential writes, the running CRC32 of every byte written (slot A's
 * prefix CRC), and syncs that run on the thread pool while the writer keeps
 * serving requests. Without a file (in-memory database, `fd` -1) it only keeps
 * the CRC and the write position.
 */
export class CompactionFile {
  /** New-log bytes [DATA_START, written) are in the file; `crc` covers them. */
  written = DATA_START;
  crc = 0;
  /**
   * The CRC at each log page boundary passed (entry p: the CRC of the bytes
   * before page p; prefix-crc.ts): the same hashing, cut at pages, so the
   * new log's pages can be checked when read back without hashing it again.
   */
  readonly pages: number[] = [0];
  private syncedTo = DATA_START;
  private syncing: Promise<void> | undefined;
  private syncError: unknown;
  private closeAfterSync = false;

  constructor(
    private readonly io: FileIO | undefined,
    private fd: number,
  ) {}

  /** Appends `bytes` at `written`. */
  write(bytes: Uint8Array): void {
    let crc = this.crc;
    for (let o = 0, pos = this.written; o < bytes.length; ) {
      const boundary = (Math.floor(pos / LOG_PAGE_BYTES) + 1) * LOG_PAGE_BYTES;
      const n = Math.min(bytes.length - o, boundary - pos);
      crc = crc32(bytes.subarray(o, o + n), crc);
      o += n;
      pos += n;
      if (pos === boundary) this.pages[boundary / LOG_PAGE_BYTES] = crc;
    }
    this.crc = crc;
    const at = this.written;
    this.written += bytes.length;
    if (this.fd < 0 || !this.io) return;
    try {
      writeFully(this.io, this.fd, bytes, 0, bytes.length, at);
    } catch (err) {
      throw ioError('compaction', err);
    }
  }

  /** Bytes written but not yet known durable. */
  get unsynced(): number {
    return this.written - this.syncedTo;
  }

  get syncRunning(): boolean {
    return this.syncing !== undefined;
  }

  /** Waits for the running thread-pool sync, if any. */
  waitForSync(): Promise<void> {
    return this.syncing ?? Promise.resolve();
  }

  /** A failed thread-pool sync poisons the job: it is never retried (a failed fsync may have dropped the pages). */
  throwIfFailed(): void {
    if (this.syncError !== undefined) throw ioError('compaction', this.syncError);
  }

  /** A sync of the file on the thread pool, when the file system offers one; false otherwise. */
  startAsyncSync(): boolean {
    if (this.fd < 0 || !this.io?.fdatasyncAsync) return false;
    const upTo = this.written;
    const fd = this.fd;
    this.syncing = new Promise<void>((resolve) => {
      this.io!.fdatasyncAsync!(fd, (err) => {
        if (err) this.syncError ??= err;
        else this.syncedTo = Math.max(this.syncedTo, upTo);
        this.syncing = undefined;
        if (this.closeAfterSync) this.close();
        resolve();
      });
    });
    return true;
  }

  syncNow(): void {
    if (this.fd < 0 || !this.io) return;
    try {
      this.io.fdatasync(this.fd);
    } catch (err) {
      throw ioError('compaction', err);
    }
    this.syncedTo = this.written;
  }

  /** Writes the header pages at offset 0 (outside the CRC), syncs and closes: the file is complete. */
  finish(header: Uint8Array): void {
    if (this.fd < 0 || !this.io) return;
    try {
      writeFully(this.io, this.fd, header, 0, header.length, 0);
      this.io.fdatasync(this.fd);
    } catch (err) {
      throw ioError('compaction', err);
    }
    this.close();
  }

  /** A descriptor a thread-pool sync still uses is closed when that sync ends (its number could be reused meanwhile). */
  close(): void {
    if (this.fd < 0 || !this.io) return;
    if (this.syncing) {
      this.closeAfterSync = true;
      return;
    }
    const fd = this.fd;
    this.fd = -1;
    this.io.close(fd);
  }
}
