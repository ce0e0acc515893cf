import { writeFully, type FileIO } from '../log/file-io.js';

/** Smallest and largest growth step: a small database is not handed megabytes of zeros. */
export const PREALLOC_MIN_STEP = 64 << 10;
export const PREALLOC_MAX_STEP = 8 << 20;
/**
 * Appends larger than this grow the file themselves: their own bytes dominate
 * the sync, and zeros written ahead of them would put every byte on the disk
 * twice (a bulk load would write its log twice).
 */
export const PREALLOC_MAX_APPEND = 64 << 10;
const ZERO_CHUNK = 1 << 20;
/** Free space, in growth steps, below which the file grows by its records only. */
const FREE_STEPS = 4;

let zeros: Uint8Array | undefined;

/**
 * The growth step for a log ending at `end`: about an eighth of the log,
 * a power of two between the bounds, so the number of growths stays
 * logarithmic in the log size and the zeros past the log end (which a crash
 * leaves for recovery to cut) stay small next to the log.
 */
export function preallocStep(end: number): number {
  let step = PREALLOC_MIN_STEP;
  while (step < PREALLOC_MAX_STEP && step * 8 < end) step *= 2;
  return step;
}

/**
 * Keeps the log file longer than the log, with written zeros, so a durable
 * append writes into allocated space and its fdatasync is a data flush only:
 * no size change, no extent allocation, hence no journal commit per sync.
 * Written zeros, not fallocate: Node has no fallocate binding, and on ext4 a
 * fallocated block is an unwritten extent whose first write is a metadata
 * change again (docs/DESIGN.md, "Preallocation"; bench/durable-single.ts
 * measures both).
 *
 * The zeros past the log end are valid file content (FORMAT.md: "the file may
 * be longer than the log"): recovery finds the log end from the records, and a
 * zero word never passes the record magic. close() cuts them (trim).
 */
export class Preallocation {
  /** What this object knows the file size to be, for `fd`; -1: ask the file. */
  private allocated = -1;
  private fd = -1;
  /** After a full disk, no zeros are written again until the log reaches this LSN. */
  private pausedUntil = 0;

  constructor(
    private readonly io: FileIO,
    private readonly file: string | null,
  ) {}

  /** The file behind the descriptor was replaced (compaction) or cut: measure it again. */
  reset(): void {
    this.allocated = -1;
  }

  private sizeOf(fd: number): number {
    if (fd !== this.fd || this.allocated < 0) {
      this.fd = fd;
      this.allocated = this.io.size(fd);
    }
    return this.allocated;
  }

  /**
   * Called before `len` bytes of log are written at `at`: when that write
   * would grow the file, zero-fills from the file end to a step past it first,
   * so the record bytes land in allocated space. Zeros before records: a
   * failed zero write leaves no record byte in the file, exactly like a failed
   * record write. Throws what the write throws (the caller handles it as a
   * failed record write: cut back to the log end on a full disk, poisoned
   * otherwise).
   */
  grow(fd: number, at: number, len: number): void {
    const end = at + len;
    const size = this.sizeOf(fd);
    if (end <= size) return;
    const step = preallocStep(end);
    if (len <= PREALLOC_MAX_APPEND && end >= this.pausedUntil && this.roomFor(step)) {
      zeros ??= new Uint8Array(ZERO_CHUNK);
      const target = end + step;
      for (let pos = size; pos < target; ) {
        const n = Math.min(ZERO_CHUNK, target - pos);
        writeFully(this.io, fd, zeros, 0, n, pos);
        pos += n;
        this.allocated = pos;
      }
    }
    // The record write extends the file to `end` itself when no zeros were written.
    this.allocated = Math.max(this.allocated, end);
  }

  /**
   * Zeros only while the file system has room to spare (several steps): near
   * a full disk the file grows by its records alone, so a full disk is met by
   * a record write, exactly where it was met without preallocation, and not
   * by zeros written for records that would have fit. Re-checked at every
   * growth; a file system that cannot say is assumed roomy.
   */
  private roomFor(step: number): boolean {
    if (this.file === null || !this.io.freeBytes) return true;
    try {
      return this.io.freeBytes(this.file) >= FREE_STEPS * step;
    } catch {
      return false;
    }
  }

  /**
   * The file was cut to `to` (a full disk's rollback, a failed sync's cut).
   * After a full disk, growth pauses for a step, so writes resume as soon as
   * their own bytes fit rather than when a whole step of zeros does.
   */
  truncated(to: number, fullDisk = false): void {
    this.allocated = to;
    if (fullDisk) this.pausedUntil = to + preallocStep(to);
  }

  /** Cuts the zeros past the log end (close, and before the file is copied or rewritten). */
  trim(fd: number, logEnd: number): void {
    if (this.sizeOf(fd) <= logEnd) return;
    this.io.ftruncate(fd, logEnd);
    this.allocated = logEnd;
  }
}
