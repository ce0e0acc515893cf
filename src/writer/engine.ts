import { randomBytes } from 'node:crypto';
import { EmdbError, ErrorCode, ioError } from '../errors.js';
import { RecordBuffer } from '../core/record-buffer.js';
import { DATA_START, RECORD, RECORD_HEADER_SIZE, RecordKind, SLOT_A_OFFSET, SLOT_SIZE } from '../format/constants.js';
import { chooseSlot, decodePrelude, encodeNewHeader, encodeSlot, isEncrypted, otherSlotOffset } from '../format/header.js';
import { storedPayloadSize } from '../format/record.js';
import { dirOf, readFully, writeFully, type FileIO } from '../log/file-io.js';
import { loadMirror, replayLog, type RecoveryResult } from '../log/recovery.js';
import type { BufferSet, CompactReport, FlushPolicy, StatsSnapshot } from '../protocol.js';
import { IndexWriter } from '../shm/index-table.js';
import { Ctl32, Ctl64, DbState, SEGMENT_SPAN } from '../shm/layout.js';
import { MirrorWriter } from '../shm/mirror.js';
import { rollBackFullDisk } from './append-failure.js';
import { BufferedWriter } from './buffered-writer.js';
import { buildCompacted, type CompactedLog } from './compactor.js';
import { LogState } from './log-state.js';

export interface EngineOptions {
  path: string | null;
  flushPolicy: FlushPolicy;
  io: FileIO;
  control: SharedArrayBuffer;
  /** Posts a new buffer set to every thread (rule R4); GENERATION is bumped after it returns. */
  publish: (set: BufferSet) => void;
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
  private writes = 0;
  private failure: EmdbError | undefined;
  /** Set only once open() completed: a refused or half-opened file is never written. */
  private opened = false;
  recovery: RecoveryResult | undefined;

  constructor(private readonly opts: EngineOptions) {
    this.ctl32 = new Int32Array(opts.control);
    this.ctl64 = new BigInt64Array(opts.control);
  }

  open(): void {
    const { io, path: file } = this.opts;
    if (file === null) {
      this.initState(1 << 20, 0);
      this.nextLsn = this.durableLsn = DATA_START;
      this.state.mirror.reserve(0, DATA_START);
      this.state.mirror.write(0, encodeNewHeader(Date.now(), randomBytes(16)));
    } else {
      this.openFile(io, file);
    }
    this.publishBuffers();
    this.syncControl();
    this.opened = true;
    Atomics.store(this.ctl32, Ctl32.STATE, DbState.OPEN);
  }

  private openFile(io: FileIO, file: string): void {
    if (io.isDirectory(file)) throw new EmdbError(ErrorCode.INVALID_CONFIG, `${file} is a directory, not a database file`);
    if (!io.exists(file)) this.create(io, file);
    // A compaction that crashed before its rename left this behind; the log is intact.
    if (io.exists(`${file}.compact`)) io.unlink(`${file}.compact`);
    const flags = this.opts.flushPolicy.kind === 'writeThrough' ? 'r+dsync' : 'r+';
    this.fd = io.open(file, flags);
    const size = io.size(this.fd);
    const header = new Uint8Array(DATA_START);
    const got = readFully(io, this.fd, header, 0, DATA_START, 0);
    // Validate before touching anything: a foreign or future file is left byte-identical.
    if (got < DATA_START) {
      throw new EmdbError(ErrorCode.NOT_A_DATABASE, `${file} is too short (${size} bytes) to be an emdb-js database`);
    }
    const prelude = decodePrelude(header);
    if (isEncrypted(prelude)) {
      throw new EmdbError(ErrorCode.ENCRYPTION_KEY_MISMATCH, 'database is encrypted; this build cannot open encrypted files');
    }
    const slot = chooseSlot(header);
    this.slotOffset = slot.offset;
    this.slotSequence = slot.sequence;
    this.lastCheckpointAt = slot.checkpointAt;
    this.initState(Math.max(size, DATA_START), slot.liveKeys);
    loadMirror(this.state, io, this.fd, size);
    this.recovery = replayLog(this.state, size, slot.tailHint);
    this.nextLsn = this.recovery.end;
    if (this.recovery.end < size) {
      // Crash residue after the last good record: cut it so appends start clean.
      io.ftruncate(this.fd, this.recovery.end);
    }
    // What we read may still sit only in the page cache of a crashed run.
    io.fdatasync(this.fd);
    this.durableLsn = this.nextLsn;
    Atomics.store(this.ctl64, Ctl64.TAIL_HINT, BigInt(slot.tailHint));
  }

  /** Atomic creation: temp file, fsync, rename, directory fsync (FORMAT.md assumptions). */
  private create(io: FileIO, file: string): void {
    const dir = dirOf(file);
    io.mkdirp(dir);
    const tmp = `${file}.creating`;
    if (io.exists(tmp)) io.unlink(tmp); // orphan of a crashed creation; never a database yet
    const fd = io.open(tmp, 'wx');
    try {
      const header = encodeNewHeader(Date.now(), randomBytes(16));
      writeFully(io, fd, header, 0, header.length, 0);
      io.fdatasync(fd);
    } finally {
      io.close(fd);
    }
    io.rename(tmp, file);
    io.fsyncDir(dir);
    this.lastCheckpointAt = Date.now();
  }

  private initState(logBytes: number, keysHint: number): void {
    const mirror = new MirrorWriter(MirrorWriter.create(Math.min(logBytes + (1 << 20), SEGMENT_SPAN)));
    let capacity = 1024;
    while (capacity * 0.5 < Math.max(keysHint, logBytes / 256)) capacity *= 2;
    this.state = new LogState(IndexWriter.allocate(capacity), mirror);
    this.state.onIndexReplaced = () => this.publishBuffers();
  }

  /**
   * Appends a batch of framed records (built and CRC-sealed by the producer
   * thread) and applies them to the index. File first, index second: a reader
   * never sees a record that failed to reach the file. Returns, per record,
   * whether its key existed before.
   */
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
    if (this.fd < 0 || file === null) {
      built = buildCompacted(this.state, started, () => undefined);
    } else {
      const tmp = `${file}.compact`;
      if (io.exists(tmp)) io.unlink(tmp);
      const fd = io.open(tmp, 'wx');
      const out = new BufferedWriter(io, fd);
      try {
        built = buildCompacted(this.state, started, (bytes, position) => out.write(bytes, position));
        out.flush();
        io.fdatasync(fd);
      } catch (err) {
        io.close(fd);
        io.unlink(tmp);
        throw ioError('compaction', err);
      }
      io.close(fd);
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
    this.state = built.state;
    this.state.onIndexReplaced = () => this.publishBuffers();
    this.nextLsn = this.durableLsn = built.end;
    this.slotOffset = SLOT_A_OFFSET;
    this.slotSequence = 1;
    Atomics.store(this.ctl64, Ctl64.TAIL_HINT, BigInt(built.end));
    this.publishBuffers();
    this.syncControl();
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
    this.appendCatalogue(RecordKind.NS_CREATE, id, name);
    return id;
  }

  /** Drops namespace `name` and its keys (an NS_DROP record). False when absent. */
  dropNamespace(name: string): boolean {
    const id = this.state.namespaceId(name);
    if (id < 0) return false;
    this.appendCatalogue(RecordKind.NS_DROP, id, name);
    return true;
  }

  private appendCatalogue(kind: typeof RecordKind.NS_CREATE | typeof RecordKind.NS_DROP, id: number, name: string): void {
    const records = new RecordBuffer();
    records.append(kind, id, name, Buffer.byteLength(name, 'utf8'), null, 0);
    const { payload, bytes } = records.take();
    this.append(new Uint8Array(payload, 0, bytes), false);
  }

  /** Makes every appended record durable (one fdatasync unless already durable). */
  flush(): void {
    this.assertWritable();
    if (this.fd < 0 || this.durableLsn === this.nextLsn) return;
    try {
      this.opts.io.fdatasync(this.fd);
    } catch (err) {
      throw this.fail('fdatasync', err);
    }
    this.durableLsn = this.nextLsn;
    this.syncControl();
  }

  /** Flush, then record the durable tail in the older header slot (A/B), then sync that. */
  checkpoint(): void {
    this.flush();
    if (this.fd < 0) return;
    const tail = Number(Atomics.load(this.ctl64, Ctl64.TAIL_HINT));
    if (tail === this.durableLsn && this.slotSequence > 0) return;
    const target = otherSlotOffset(this.slotOffset);
    const now = Date.now();
    const slot = encodeSlot({
      sequence: this.slotSequence + 1,
      tailHint: this.durableLsn,
      checkpointAt: now,
      liveKeys: this.state.index.live,
    });
    try {
      writeFully(this.opts.io, this.fd, slot, 0, SLOT_SIZE, target);
      this.opts.io.fdatasync(this.fd);
    } catch (err) {
      throw this.fail('checkpoint', err);
    }
    this.slotOffset = target;
    this.slotSequence++;
    this.lastCheckpointAt = now;
    Atomics.store(this.ctl64, Ctl64.TAIL_HINT, BigInt(this.durableLsn));
  }

  /** Checkpoints (when opened and healthy) and releases the file. */
  close(): void {
    try {
      if (this.opened && !this.failure) this.checkpoint();
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
      lastCheckpointAt: this.lastCheckpointAt,
    };
  }

  currentBuffers(): BufferSet {
    return {
      generation: Atomics.load(this.ctl32, Ctl32.GENERATION),
      index: this.state.index.buffer,
      segments: [...this.state.mirror.buffers],
    };
  }

  get failed(): EmdbError | undefined {
    return this.failure;
  }

  private publishBuffers(): void {
    const generation = Atomics.load(this.ctl32, Ctl32.GENERATION) + 1;
    this.opts.publish({ generation, index: this.state.index.buffer, segments: [...this.state.mirror.buffers] });
    Atomics.store(this.ctl32, Ctl32.GENERATION, generation);
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
   * An I/O error poisons the engine: after a failed write or fdatasync we cannot
   * know what reached the disk, so every later write is refused until reopen.
   */
  private fail(op: string, err: unknown): EmdbError {
    this.failure = ioError(op, err);
    Atomics.store(this.ctl32, Ctl32.STATE, DbState.FAILED);
    return this.failure;
  }
}

/** Total size of the framed record at `off` (header + stored payload). */
function frameSize(dv: DataView, off: number): number {
  return (
    RECORD_HEADER_SIZE +
    storedPayloadSize(dv.getUint8(off + RECORD.FLAGS), dv.getUint32(off + RECORD.KEY_LEN, true), dv.getUint32(off + RECORD.VALUE_LEN, true))
  );
}
