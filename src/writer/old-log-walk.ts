import { RECORD_HEADER_SIZE } from '../format/constants.js';
import { frameSize } from '../format/record.js';
import { FramedWriter } from '../shm/framed-writer.js';
import type { MirrorWriter } from '../shm/mirror.js';

/** A framed old log is walked through a window of this many bytes (one checked read each), not a pread per record. */
const WALK_WINDOW = 1 << 20;

/**
 * How a compaction's copy walk reads the old log's records below the job's
 * start (writer/compaction-job.ts). A whole-log mirror holds them resident
 * (compaction loaded every page first, workers/writer.ts). A log read through
 * the page cache is read a window at a time, whole pages checked against
 * their boundary CRCs (FramedWriter.logBytes), so the walk costs one pread
 * per MiB rather than one per record, and never fills the cache with pages
 * nobody asked for.
 */
export class OldLogWalk {
  /** Log bytes [winFrom, winFrom + winLen), copied out of the checked reads. */
  private win = new Uint8Array(0);
  private winDv = new DataView(this.win.buffer);
  private winFrom = 0;
  private winLen = 0;
  /** The view `at` resolved the last record into. */
  u8: Uint8Array = this.win;
  dv: DataView = this.winDv;

  constructor(
    /** The old log's mirror now (the engine's state; read each time, as the job does). */
    private readonly mirror: () => MirrorWriter,
    /** The walk ends here: the job's start. */
    private readonly end: number,
  ) {}

  /**
   * Whether `at` resolves the record at `lsn` without moving the window:
   * always for a whole-log mirror; for a framed log when the whole record is
   * inside the window. The walk copies its pending run before the window moves.
   */
  inWindow(lsn: number): boolean {
    if (!(this.mirror() instanceof FramedWriter)) return true;
    const at = lsn - this.winFrom;
    return at >= 0 && at + RECORD_HEADER_SIZE <= this.winLen && at + frameSize(this.winDv, at) <= this.winLen;
  }

  /** Reads the framed old log from `lsn` into the window: WALK_WINDOW bytes, or the whole record there when longer. */
  moveWindow(lsn: number): void {
    const old = this.mirror();
    let want = Math.min(WALK_WINDOW, this.end - lsn);
    for (;;) {
      if (this.win.length < want) {
        this.win = new Uint8Array(want);
        this.winDv = new DataView(this.win.buffer);
      }
      let got = 0;
      while (got < want) {
        // A damaged page is ERR_EMDB_CORRUPTION here, at its offset, as a record read reports it.
        const chunk = old.logBytes(lsn + got, want - got);
        if (chunk.length === 0) break;
        this.win.set(chunk, got);
        got += chunk.length;
      }
      this.winFrom = lsn;
      this.winLen = got;
      if (got < RECORD_HEADER_SIZE) return;
      const size = frameSize(this.winDv, 0);
      if (size <= got || want >= this.end - lsn) return;
      want = Math.min(size, this.end - lsn);
    }
  }

  /** Resolves the old log's record at `lsn` into u8 / dv; returns its offset there. */
  at(lsn: number): number {
    const old = this.mirror();
    // A mirror's record, or one the window could not hold whole (cut short by damage): read as records are, checked.
    if (!(old instanceof FramedWriter) || !this.inWindow(lsn)) {
      const off = old.residentRecordAt(lsn);
      this.u8 = old.recU8;
      this.dv = old.recDv;
      return off;
    }
    this.u8 = this.win;
    this.dv = this.winDv;
    return lsn - this.winFrom;
  }
}
