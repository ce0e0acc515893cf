import { randomBytes } from '../crypto/node-crypto.js';
import { ioError } from '../errors.js';
import { FORMAT_VERSION } from '../format/constants.js';
import { dirOf } from '../log/file-io.js';
import { FedPrefixCrc, LogCrypt } from '../log/log-crypt.js';
import { relocateSorted } from '../shm/sorted-build.js';
import type { CompactReport } from '../types.js';
import { CompactionJob, type CompactionTuning } from './compaction-job.js';
import { skipReport } from './compaction-policy.js';
import { LogWriter } from './log-writer.js';
import { CIPHER_ID } from '../crypto/aead.js';
import { StagedLog } from '../shm/staged-log.js';

/**
 * The compaction half of the writer engine (WriterEngine extends it): starting
 * an incremental compaction, giving it up, and the swap that switches the log,
 * the index and the mirror to the compacted generation. The job itself (scan,
 * copy, catch-up) is writer/compaction-job.ts; workers/writer.ts steps it
 * between requests (writer/compaction-runner.ts).
 */
export abstract class CompactingWriter extends LogWriter {
  /** 0 until a compaction completes in this open (not persisted). */
  protected lastCompactionAt = 0;
  /** The log file's id, for its index snapshots: set by open from the prelude and by each compaction (an in-memory database writes no snapshot). */
  protected fileId: Uint8Array = new Uint8Array(16);
  /** Tail the index snapshot on disk describes, -1 when unknown or absent. */
  protected snapshotTail = -1;

  /**
   * Rewrites the log with its live records and swaps it in, all at once: the
   * steps of an incremental compaction (beginCompaction, then finishCompaction)
   * run back to back. The writer thread runs them interleaved with writes
   * instead (workers/writer.ts); this form serves the in-process engine.
   */
  compact(force = false): CompactReport {
    const job = this.beginCompaction(force);
    return job instanceof CompactionJob ? this.finishCompaction(job) : job;
  }

  /**
   * Starts a compaction of the log as it is now (writer/compaction-job.ts), or,
   * when it has too little to reclaim and `force` is not set, returns the report
   * of a skipped one (writer/compaction-policy.ts). The temp file `<path>.compact`
   * is created here; the caller steps the job between requests, then calls
   * finishCompaction, or abortCompaction on a failure.
   */
  beginCompaction(force: boolean, tuning?: CompactionTuning): CompactionJob | CompactReport {
    this.assertWritable();
    const skipped = force ? undefined : skipReport(this.state, this.lsn.next, this.formatVersion, this.now());
    if (skipped) return skipped;
    const { io, path: file } = this.opts;
    const fileId = randomBytes(16);
    // Encrypted: a new file id is a new subkey; its units and records are sealed again, each under a fresh random nonce.
    const nextCrypt = this.crypt && new LogCrypt(this.crypt.keys, fileId);
    let fd = -1;
    let staged: StagedLog | undefined;
    if (this.fd >= 0 && file !== null) {
      const tmp = `${file}.compact`;
      try {
        if (io.exists(tmp)) io.unlink(tmp);
        fd = io.open(tmp, 'wx', file); // takes the database's mode and owner
        // Read through the page cache: the new log is not built whole in memory either; what is written is read back.
        // Encrypted in units: read back through its own key (a scheme 1 log is built whole and stays whole).
        if (this.framed && (!nextCrypt || nextCrypt.batch)) {
          const seal = nextCrypt && { cipher: CIPHER_ID[nextCrypt.records.keys.cipher], key: nextCrypt.records.keys.records };
          staged = new StagedLog(io.open(tmp, 'r'), (f, buf, off, len, pos) => io.read(f, buf, off, len, pos), (f) => io.close(f), seal);
        }
      } catch (err) {
        if (fd >= 0) io.close(fd);
        throw ioError('compaction', err);
      }
    }
    return new CompactionJob({ state: this.state, end: () => this.lsn.next, now: this.now }, fd >= 0 ? io : undefined, fd, fileId, nextCrypt, tuning, staged);
  }

  /** Gives a compaction up: the old log was never touched; the temp file is removed (best effort; the next open removes an orphan). */
  abortCompaction(job: CompactionJob): void {
    const { io, path: file } = this.opts;
    try {
      job.abort();
      if (file !== null && this.fd >= 0 && io.exists(`${file}.compact`)) io.unlink(`${file}.compact`);
    } catch {
      // the compaction's own error is the one to report
    }
  }

  /**
   * The swap: replays what was appended since the job's last step, syncs the
   * new log, renames it over the old one, syncs the directory, then switches
   * every thread to the new index and mirror (a new generation; reads in flight
   * finish on the old, still valid, buffers). Synchronous, so no write lands
   * in between. A failure before the rename leaves the old log untouched; a
   * crash leaves either the old or the new file, and an orphan temp file is
   * removed by the next open.
   */
  finishCompaction(job: CompactionJob): CompactReport {
    try {
      this.assertWritable();
      job.complete();
    } catch (err) {
      this.abortCompaction(job);
      throw err;
    }
    const { io, path: file } = this.opts;
    if (this.fd >= 0 && file !== null) {
      try {
        io.rename(`${file}.compact`, file);
        io.fsyncDir(dirOf(file));
        const next = io.open(file, this.opts.flushPolicy.kind === 'writeThrough' ? 'r+dsync' : 'r+');
        io.close(this.fd);
        this.fd = next;
        this.prealloc.reset();
      } catch (err) {
        // Whether the rename is durable is unknown now: refuse writes until reopen.
        throw this.fail('compaction rename', err);
      }
    }
    const oldSorted = this.state.sorted;
    const built = job.state;
    const moves = job.moves;
    if (oldSorted) built.sorted = relocateSorted(oldSorted, built.index, built.mirror, moves && ((lsn) => moves.newLsn(lsn)));
    const replaced = this.state.mirror;
    this.state = built;
    this.logEpoch++;
    this.state.onIndexReplaced = () => this.publishBuffers();
    this.state.now = this.now;
    this.state.incrementalPurge = true;
    this.lsn.reset(job.end);
    this.durableLsn = job.end;
    this.marks.reset(job.end, this.fd >= 0);
    this.slots.compacted(job.end);
    this.formatVersion = FORMAT_VERSION;
    this.fileId = job.fileId;
    if (job.crypt) {
      this.crypt = job.crypt;
      this.slots.seal = job.crypt.slotBytes.bind(job.crypt);
      this.prefix = new FedPrefixCrc();
    }
    this.prefix.reset(job.end, job.prefixCrc, job.pages);
    // The new log is read through frames from now on; the old generation's frames are free, its descriptor once unused.
    try {
      if (file !== null && this.fd >= 0) this.frameIfPlanned(file, job.end, replaced);
    } catch (err) {
      // The log is switched already; without a way to read it nothing may be written to it.
      throw this.fail('compaction: opening the new log for reads', err);
    } finally {
      job.closeStaged();
    }
    // The old log's snapshot names the old file id; the next checkpoint or close writes the new log's.
    this.snapshotTail = -1;
    this.publishBuffers();
    this.lastCompactionAt = Date.now();
    return {
      bytesBefore: job.bytesBefore,
      bytesAfter: job.end,
      keysKept: job.kept,
      deadBytesDropped: job.deadBefore,
      durationMs: Date.now() - job.started,
      skipped: false,
    };
  }
}
