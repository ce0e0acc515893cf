import type { FileIO } from '../log/file-io.js';

/** Bytes appended since the last write-back start after which a large append starts another. */
export const WRITEBACK_BYTES = 16 << 20;
/** Only appends of at least this size start one: bulk chunks, not single writes (a durable single write has its own sync). */
export const WRITEBACK_MIN_APPEND = 256 << 10;

/**
 * Write-back during bulk loads: an fdatasync of the log on the libuv thread
 * pool every WRITEBACK_BYTES of large appends, so the kernel writes the pages
 * out while the writer thread goes on appending, and the flush() at the end
 * of an insertMany has megabytes left to sync instead of the whole load.
 *
 * It is a hint, not durability: the engine's durable LSN is not moved by it
 * (flush() still syncs, and that sync is cheap once the pages are clean). Its
 * failure is not a hint, though: a failed fdatasync may have dropped dirty
 * pages (the handle is poisoned), so the engine cuts the unsynced bytes off
 * and refuses every later write and flush with it, as after a failed flush();
 * it is never retried. A failure on a log already replaced (its descriptor
 * closed by a compaction swap meanwhile) concerns a file no longer in use.
 *
 * A descriptor the pool is syncing is closed only once that sync has ended:
 * closed earlier, its number could be reused by another open and the sync
 * (and its error) would land on the wrong file.
 */
export class Writeback {
  private running = false;
  private runningFd = -1;
  private closeAfter: number[] = [];
  private startedAt = 0;

  constructor(
    private readonly io: FileIO,
    /** Told of a failed write-back of `fd` (on the writer thread, between messages). */
    private readonly failed: (fd: number, err: unknown) => void,
  ) {}

  /** After an append of `len` bytes that ends the log at `end` in `fd`. */
  appended(fd: number, len: number, end: number): void {
    // A compaction restarted the log shorter: count from its start.
    if (end < this.startedAt) this.startedAt = 0;
    if (len < WRITEBACK_MIN_APPEND || this.running || end - this.startedAt < WRITEBACK_BYTES) return;
    const sync = this.io.fdatasyncAsync;
    if (!sync) return;
    this.running = true;
    this.runningFd = fd;
    this.startedAt = end;
    sync(fd, (err) => {
      this.running = false;
      this.runningFd = -1;
      const closing = this.closeAfter.splice(0);
      if (err && !closing.includes(fd)) this.failed(fd, err);
      for (const c of closing) this.io.close(c);
    });
  }

  /** Closes `fd` now, or when the write-back syncing it ends. */
  close(fd: number): void {
    if (this.running && fd === this.runningFd) this.closeAfter.push(fd);
    else this.io.close(fd);
  }
}
