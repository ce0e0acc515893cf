import { randomBytes } from 'node:crypto';
import { EmdbError, ioError } from '../errors.js';
import { DATA_START, FORMAT_VERSION, PREFIX_CRC_SINCE_VERSION, RecordKind, SLOT_A_OFFSET, SLOT_SIZE } from '../format/constants.js';
import { encodeSlot, otherSlotOffset } from '../format/header.js';
import { catalogueRecord, frameSize } from '../format/record.js';
import { dirOf, writeFully, type FileIO } from '../log/file-io.js';
import { PrefixCrc } from '../log/prefix-crc.js';
import type { BufferSet, CompactReport, FlushPolicy, StatsSnapshot } from '../protocol.js';
import { Ctl32, Ctl64, DbState, SEGMENT_SPAN } from '../shm/layout.js';
import { buildSorted, relocateSorted } from '../shm/sorted-build.js';
import type { SnapshotLimits } from '../shm/sorted-writer.js';
import { rollBackFullDisk } from './append-failure.js';
import { backupSource, BackupJob } from './backup.js';
import { buildCompacted, writeCompactedFile, type CompactedLog } from './compactor.js';
import type { LogState } from './log-state.js';
import { newInMemoryLog, openLog, recoveryStats, type OpenReport } from './open-log.js';
import { snapshotPath, writeSnapshot } from './snapshot.js';
import type { SnapshotHeader } from '../format/snapshot.js';
import { readSortedSection } from './sorted-persist.js';
import { SortedIndexWriter } from '../shm/sorted-writer.js';

/** A checkpoint rewrites the index snapshot once the log grew by 1/4 of the table's bytes (DESIGN.md, "Reopen"). */
const SNAPSHOT_EVERY = 4;

export interface EngineOptions {
  path: string | null;
  flushPolicy: FlushPolicy;
  io: FileIO;
  control: SharedArrayBuffer;
  /** Posts a new buffer set to every thread (rule R4); GENERATION is bumped after it returns. */
  publish: (set: BufferSet) => void;
  /** Maintain the sorted index (rangeScans: true), with these iterator limits. */
  rangeScans?: SnapshotLimits;
}

/**
 * The single owner of the log file. Everything here runs on the writer thread;
 * the methods are synchronous and are called in message order.
 */
export class WriterEngine {
  private readonly ctl32: Int32Array;
  private readonly ctl64: BigInt64Array;
  private state!: LogState;
  private fd = -1;
  private nextLsn = DATA_START;
  private durableLsn = DATA_START;
  private slotOffset = 0;
  private slotSequence = 0;
  private lastCheckpointAt = 0;
  /** 0 until a compaction completes in this open (not persisted). */
  private lastCompactionAt = 0;
  private writes = 0;
  /** fdatasyncs of the log by flush() and checkpoint() since open (group commit shares them). */
  private syncs = 0;
  /** Wall time spent in those fdatasyncs: with `syncs`, what one sync costs on this disk. */
  private syncMs = 0;
  private failure: EmdbError | undefined;
  /** Set only once open() completed: a refused or half-opened file is never written. */
  private opened = false;
  /** Prelude version of the open file: version 1 files keep version 1 slots (no prefix CRC). */
  private formatVersion = FORMAT_VERSION;
  private fileId: Uint8Array = randomBytes(16);
  private readonly prefix = new PrefixCrc();
  /** Tail the index snapshot on disk describes, -1 when unknown or absent. */
  private snapshotTail = -1;
  /** Why the last index snapshot could not be written (a cache: the checkpoint itself succeeded). */
  private snapshotError: string | undefined;
  recovery: OpenReport | undefined;
  /** How open got the sorted index: from the snapshot's sorted section, or rebuilt from the hash index. */
  private sortedSource: 'snapshot' | 'rebuilt' | null = null;

  constructor(private readonly opts: EngineOptions) {
    this.ctl32 = new Int32Array(opts.control);
    this.ctl64 = new BigInt64Array(opts.control);
  }

  open(): void {
    const { io, path: file } = this.opts;
    if (file === null) {
      this.state = newInMemoryLog();
      this.state.onIndexReplaced = () => this.publishBuffers();
    } else {
      this.openFile(io, file);
    }
    if (this.opts.rangeScans) {
      this.sortedSource ??= 'rebuilt';
      this.state.sorted ??= buildSorted(this.state.index, this.state.mirror, this.opts.rangeScans);
      // Publishes what the replay appended to a loaded sorted index.
      this.state.sorted.commit();
    }
    this.publishBuffers();
    this.syncControl();
    this.opened = true;
    Atomics.store(this.ctl32, Ctl32.STATE, DbState.OPEN);
  }

  private openFile(io: FileIO, file: string): void {
    const limits = this.opts.rangeScans;
    // A sorted section that matches the snapshot is loaded before the replay, which then keeps it exact.
    const attachSorted = limits && ((state: LogState, snap: SnapshotHeader | undefined) => {
      const run = snap && readSortedSection(io, snapshotPath(file), snap);
      if (run) state.sorted = new SortedIndexWriter([run], limits);
    });
    const log = openLog(io, file, this.opts.flushPolicy, (fd) => (this.fd = fd), attachSorted || undefined);
    this.sortedSource = log.state.sorted ? 'snapshot' : null;
    this.state = log.state;
    this.state.onIndexReplaced = () => this.publishBuffers();
    this.formatVersion = log.prelude.version;
    this.fileId = log.prelude.fileId;
    this.slotOffset = log.slot.offset;
    this.slotSequence = log.slot.sequence;
    this.lastCheckpointAt = log.slot.checkpointAt;
    this.recovery = log.report;
    this.prefix.reset(log.prefix.lsn, log.prefix.crc);
    this.snapshotTail = log.snapshotTail;
    this.nextLsn = this.durableLsn = log.report.end;
    Atomics.store(this.ctl64, Ctl64.TAIL_HINT, BigInt(log.slot.tailHint));
  }

  /**
   * Appends a batch of framed records (built and CRC-sealed by the producer
   * thread) and applies them to the index. File first, index second: a reader
   * never sees a record that failed to reach the file. Returns, per record,
   * whether its key existed before.
   */
  /** Sizes the index once for `records` more keys (before a batch applied in several appends). */
  reserveKeys(records: number): void {
    this.state.reserveKeys(records);
  }

  append(batch: Uint8Array, wantExisted = true, records = 0): Uint8Array | undefined {
    this.assertWritable();
    // One rebuild sized for the whole batch instead of several doublings inside it.
    this.state.reserveKeys(records);
    const lsn = this.nextLsn;
    const len = batch.length;
    const segStart = Math.floor(lsn / SEGMENT_SPAN) * SEGMENT_SPAN;
    let newSegment = false;
    if (lsn + len <= segStart + SEGMENT_SPAN) {
      newSegment = this.state.mirror.reserve(lsn, len);
      this.state.mirror.write(lsn, batch);
    } else {
      // The batch crosses a segment boundary: place each record in the segment it starts in.
      const dv = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
      for (let off = 0; off < len; ) {
        const size = frameSize(dv, off);
        newSegment = this.state.mirror.reserve(lsn + off, size) || newSegment;
        this.state.mirror.write(lsn + off, batch.subarray(off, off + size));
        off += size;
      }
    }
    if (newSegment) this.publishBuffers();
    if (this.fd >= 0) {
      try {
        writeFully(this.opts.io, this.fd, batch, 0, len, lsn);
      } catch (err) {
        // nextLsn and the index are untouched yet, so a full disk can be rolled back.
        throw rollBackFullDisk(this.opts.io, this.fd, lsn, err) ?? this.fail('write', err);
      }
    }
    this.nextLsn = lsn + len;
    if (this.fd < 0 || this.opts.flushPolicy.kind === 'writeThrough') this.durableLsn = this.nextLsn;
    const existed = this.applyRange(lsn, this.nextLsn, wantExisted);
    // One store publishes the batch to range scans (rule S2); a new run set is a new buffer set.
    if (this.state.sorted?.commit()) this.publishBuffers();
    this.syncControl();
    return existed;
  }

  private applyRange(from: number, to: number, wantExisted: boolean): Uint8Array | undefined {
    const mirror = this.state.mirror;
    const existed: number[] | undefined = wantExisted ? [] : undefined;
    for (let lsn = from; lsn < to; ) {
      const seg = Math.floor(lsn / SEGMENT_SPAN);
      const size = frameSize(mirror.dv[seg]!, lsn - seg * SEGMENT_SPAN);
      const had = this.state.apply(lsn);
      existed?.push(had);
      lsn += size;
      this.writes++;
    }
    return existed && Uint8Array.from(existed);
  }

  /**
   * Rewrites the live records into `<path>.compact`, syncs it, renames it over
   * the log, syncs the directory, then switches every thread to the new index and
   * mirror (a new generation; reads in flight finish on the old, still valid,
   * buffers). Runs on the writer thread, so writes that arrive meanwhile wait in
   * the queue and land in the new log. A failure before the rename leaves the old
   * log untouched; a crash leaves either the old or the new file, and an orphan
   * temp file is removed by the next open.
   */
  compact(): CompactReport {
    this.assertWritable();
    const started = Date.now();
    const bytesBefore = this.nextLsn;
    const deadBefore = this.state.deadBytes;
    const { io, path: file } = this.opts;
    let built: CompactedLog;
    const fileId = randomBytes(16);
    if (this.fd < 0 || file === null) {
      built = buildCompacted(this.state, started, fileId, () => undefined);
    } else {
      const tmp = `${file}.compact`;
      built = writeCompactedFile(io, tmp, this.state, started, fileId);
      try {
        io.rename(tmp, file);
        io.fsyncDir(dirOf(file));
        const next = io.open(file, this.opts.flushPolicy.kind === 'writeThrough' ? 'r+dsync' : 'r+');
        io.close(this.fd);
        this.fd = next;
      } catch (err) {
        // Whether the rename is durable is unknown now: refuse writes until reopen.
        throw this.fail('compaction rename', err);
      }
    }
    const oldSorted = this.state.sorted;
    if (oldSorted) built.state.sorted = relocateSorted(oldSorted, built.state.index, built.state.mirror);
    this.state = built.state;
    this.state.onIndexReplaced = () => this.publishBuffers();
    this.nextLsn = this.durableLsn = built.end;
    this.slotOffset = SLOT_A_OFFSET;
    this.slotSequence = 1;
    this.formatVersion = FORMAT_VERSION;
    this.fileId = fileId;
    this.prefix.reset(built.end, built.prefixCrc);
    // The old log's snapshot names the old file id; the next checkpoint or close writes the new log's.
    this.snapshotTail = -1;
    Atomics.store(this.ctl64, Ctl64.TAIL_HINT, BigInt(built.end));
    this.publishBuffers();
    this.syncControl();
    this.lastCompactionAt = Date.now();
    return {
      bytesBefore,
      bytesAfter: built.end,
      keysKept: built.kept,
      deadBytesDropped: deadBefore,
      durationMs: Date.now() - started,
    };
  }

  /** Live keys in namespace `ns`. */
  count(ns: number): number {
    return this.state.counts.get(ns) ?? 0;
  }

  namespaceNames(): string[] {
    return [...this.state.namespaces.values()];
  }

  /**
   * The id of namespace `name`; with `create`, a missing one is added to the
   * catalogue by appending an NS_CREATE record (ids are never reused). -1 if absent.
   */
  namespace(name: string, create: boolean): number {
    const found = this.state.namespaceId(name);
    if (found >= 0 || !create) return found;
    const id = this.state.nextNamespaceId;
    this.append(catalogueRecord(RecordKind.NS_CREATE, id, name), false);
    return id;
  }

  /** Drops namespace `name` and its keys (an NS_DROP record). False when absent. */
  dropNamespace(name: string): boolean {
    const id = this.state.namespaceId(name);
    if (id < 0) return false;
    this.append(catalogueRecord(RecordKind.NS_DROP, id, name), false);
    return true;
  }

  /** True when flush() has work to do: unsynced records, or a failure it must report. */
  needsSync(): boolean {
    return this.failure !== undefined || (this.fd >= 0 && this.durableLsn !== this.nextLsn);
  }

  /** Makes every appended record durable (one fdatasync unless already durable). */
  flush(): void {
    this.assertWritable();
    if (this.fd < 0 || this.durableLsn === this.nextLsn) return;
    try {
      this.syncLog();
    } catch (err) {
      this.dropUnsynced();
      throw this.fail('fdatasync', err);
    }
    this.durableLsn = this.nextLsn;
    this.syncControl();
  }

  /**
   * Flush, then record the durable tail (and, from format 2, the CRC of every
   * log byte before it) in the older header slot (A/B), then sync that; then
   * refresh the index snapshot so the next open replays only what follows. A
   * checkpoint skips the snapshot while the records since the last one are
   * cheaper to replay than the snapshot is to write (`final`: the last close
   * always writes it).
   */
  checkpoint(final = false): void {
    this.flush();
    if (this.fd < 0) return;
    const tail = Number(Atomics.load(this.ctl64, Ctl64.TAIL_HINT));
    if (tail !== this.durableLsn || this.slotSequence === 0) this.writeSlot();
    const behind = this.durableLsn - this.snapshotTail;
    if (behind > 0 && (final || this.snapshotTail < 0 || behind >= this.state.index.buffer.byteLength / SNAPSHOT_EVERY)) this.saveSnapshot();
  }

  private writeSlot(): void {
    const target = otherSlotOffset(this.slotOffset);
    const now = Date.now();
    const slot = encodeSlot({
      sequence: this.slotSequence + 1,
      tailHint: this.durableLsn,
      checkpointAt: now,
      liveKeys: this.state.index.live,
      // A version 1 file keeps version 1 slots, so older builds still read it.
      prefixCrc: this.formatVersion >= PREFIX_CRC_SINCE_VERSION ? this.prefix.upTo(this.state.mirror, this.durableLsn) : undefined,
    });
    try {
      writeFully(this.opts.io, this.fd, slot, 0, SLOT_SIZE, target);
      this.syncLog();
    } catch (err) {
      throw this.fail('checkpoint', err);
    }
    this.slotOffset = target;
    this.slotSequence++;
    this.lastCheckpointAt = now;
    Atomics.store(this.ctl64, Ctl64.TAIL_HINT, BigInt(this.durableLsn));
  }

  /**
   * Writes the index snapshot for the state at nextLsn, which the caller has
   * made durable and checkpointed. The snapshot is a cache of the log, so a
   * failure is reported (ERR_EMDB_IO) but does not poison the engine: the log
   * was not touched, a half-written snapshot is never renamed into place, and
   * the previous one stays valid for the prefix it describes.
   */
  private saveSnapshot(): void {
    const file = this.opts.path;
    if (this.fd < 0 || file === null) return;
    try {
      const crc = this.prefix.upTo(this.state.mirror, this.nextLsn);
      // The sorted index is persisted as one run: collapse it (readers get the merged run too).
      if (this.state.sorted?.collapse()) this.publishBuffers();
      writeSnapshot(this.opts.io, file, this.state, this.fileId, this.nextLsn, crc);
    } catch (err) {
      const error = ioError('index snapshot', err);
      this.snapshotError = error.message;
      throw error;
    }
    this.snapshotTail = this.nextLsn;
    this.snapshotError = undefined;
  }

  /**
   * Starts a backup of the log as it is now: [0, nextLsn), i.e. every write
   * acknowledged before the request. The caller steps the job between other
   * requests; the bytes it copies never change, whatever happens meanwhile.
   */
  startBackup(target: string): BackupJob {
    return BackupJob.start(this.opts.io, backupSource(this.state, this.nextLsn), this.opts.path, target);
  }

  /** Checkpoints (when opened and healthy) and releases the file. */
  close(): void {
    try {
      if (this.opened && !this.failure) this.checkpoint(true);
    } finally {
      if (this.fd >= 0) {
        this.opts.io.close(this.fd);
        this.fd = -1;
      }
      Atomics.store(this.ctl32, Ctl32.STATE, DbState.CLOSED);
    }
  }

  stats(): StatsSnapshot {
    const index = this.state.index;
    return {
      records: index.live,
      liveBytes: this.state.liveBytes,
      deadBytes: this.state.deadBytes,
      fileBytes: this.nextLsn,
      namespaces: this.state.namespaces.size,
      indexCapacity: index.capacity,
      indexLoad: (index.live + index.deleted) / index.capacity,
      tailHint: Number(Atomics.load(this.ctl64, Ctl64.TAIL_HINT)),
      durableLsn: this.durableLsn,
      writes: this.writes,
      syncs: this.syncs,
      syncMs: this.syncMs,
      lastCheckpointAt: this.lastCheckpointAt,
      lastCompactionAt: this.lastCompactionAt,
      recovery: recoveryStats(this.recovery),
      indexSnapshot: { tail: this.snapshotTail < 0 ? null : this.snapshotTail, error: this.snapshotError ?? null },
      sortedIndex: this.state.sorted ? { ...this.state.sorted.stats(), loadedFrom: this.sortedSource ?? 'rebuilt' } : null,
    };
  }

  currentBuffers(): BufferSet {
    return {
      generation: Atomics.load(this.ctl32, Ctl32.GENERATION),
      index: this.state.index.buffer,
      segments: [...this.state.mirror.buffers],
      ...(this.state.sorted ? { sorted: this.state.sorted.manifest() } : {}),
    };
  }

  get failed(): EmdbError | undefined {
    return this.failure;
  }

  private publishBuffers(): void {
    const generation = Atomics.load(this.ctl32, Ctl32.GENERATION) + 1;
    const sorted = this.state.sorted?.manifest();
    this.opts.publish({ generation, index: this.state.index.buffer, segments: [...this.state.mirror.buffers], ...(sorted ? { sorted } : {}) });
    Atomics.store(this.ctl32, Ctl32.GENERATION, generation);
  }

  /** One fdatasync of the log, counted and timed for stats() (a failed one counts nothing). */
  private syncLog(): void {
    const started = performance.now();
    this.opts.io.fdatasync(this.fd);
    this.syncMs += performance.now() - started;
    this.syncs++;
  }

  private syncControl(): void {
    const c = this.ctl64;
    Atomics.store(c, Ctl64.NEXT_LSN, BigInt(this.nextLsn));
    Atomics.store(c, Ctl64.APPLIED_LSN, BigInt(this.nextLsn));
    Atomics.store(c, Ctl64.DURABLE_LSN, BigInt(this.durableLsn));
    Atomics.store(c, Ctl64.LIVE_KEYS, BigInt(this.state.index.live));
    Atomics.store(c, Ctl64.LIVE_BYTES, BigInt(this.state.liveBytes));
    Atomics.store(c, Ctl64.DEAD_BYTES, BigInt(this.state.deadBytes));
    Atomics.store(c, Ctl64.WRITES, BigInt(this.writes));
  }

  private assertWritable(): void {
    if (this.failure) throw this.failure;
  }

  /**
   * After a failed fdatasync Linux marks the unsynced pages clean: they stay
   * readable in the page cache but may never reach the disk, so a reopen would
   * take them for durable records and later checkpoint past a hole. Cut them off
   * the file (best effort: the fdatasync failure is the one reported).
   */
  private dropUnsynced(): void {
    try {
      this.opts.io.ftruncate(this.fd, this.durableLsn);
    } catch {
      // see above
    }
  }

  /**
   * An I/O error poisons the engine: after a failed write or fdatasync we cannot
   * know what reached the disk, so every later write is refused until reopen.
   */
  private fail(op: string, err: unknown): EmdbError {
    this.failure = ioError(op, err);
    Atomics.store(this.ctl32, Ctl32.STATE, DbState.FAILED);
    return this.failure;
  }
}
