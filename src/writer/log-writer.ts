import { EmdbError, ErrorCode, ioError } from '../errors.js';
import { DATA_START, FORMAT_VERSION, PREFIX_CRC_SINCE_VERSION, SEAL_RECORD_SIZE } from '../format/constants.js';
import { frameSize } from '../format/record.js';
import type { ValueEncoding } from '../types.js';
import type { RecoveryMode } from '../log/recovery.js';
import { writeFully, type FileIO } from '../log/file-io.js';
import type { LogState } from '../log/log-state.js';
import { PrefixCrc } from '../log/prefix-crc.js';
import type { BufferSet, PrefetchedSnapshot } from '../protocol.js';
import { clockNow } from '../shm/clock.js';
import { BatchPublisher } from '../shm/batch-seq.js';
import { LsnCounter } from '../shm/control.js';
import { Ctl32, DbState } from '../shm/layout.js';
import type { CacheStats, FlushPolicy } from '../types.js';
import { FRAME_BYTES } from '../shm/frame-pool.js';
import { rollBackFullDisk } from './append-failure.js';
import { DurableMarks } from './durable-marks.js';
import { HeaderSlots } from './header-slots.js';
import { Preallocation } from './preallocation.js';
import type { EncryptionSpec } from '../crypto/keys.js';
import { CIPHER_ID } from '../crypto/aead.js';
import { FedPrefixCrc, type LogCrypt } from '../log/log-crypt.js';
import type { SnapshotLimits } from '../shm/sorted-writer.js';
import { FramedWriter } from '../shm/framed-writer.js';
import { newUnitDirectory, UnitDirectory } from '../shm/sealed-file.js';
import { WindowedLog } from '../shm/windowed-log.js';
import { UnsegmentedLog } from '../shm/unsegmented-log.js';
import type { MirrorWriter } from '../shm/mirror.js';
import { LazyWarmer } from '../shm/lazy-pages.js';
import { FramedGenerations, type GenerationSeal } from './framed-generations.js';
import type { CachePlan } from './cache-plan.js';

export interface EngineOptions {
  path: string | null;
  flushPolicy: FlushPolicy;
  io: FileIO;
  control: SharedArrayBuffer;
  /** Posts a new buffer set to every thread (rule R4); GENERATION is bumped after it returns. */
  publish: (set: BufferSet) => void;
  /** Maintain the sorted index (rangeScans: true), with these iterator limits. */
  rangeScans?: SnapshotLimits;
  /** Recorded in a new file and checked against the recorded one (default 'binary'). */
  valueEncoding?: ValueEncoding;
  /** An existing database is not checked against valueEncoding (the command line's raw open). */
  anyEncoding?: boolean;
  /** What open does with damage proven durable after the tail hint (default 'strict'). */
  recovery?: RecoveryMode;
  /** At-rest encryption: used at creation, checked against the file otherwise. Key material: never logged. */
  encryption?: EncryptionSpec;
  /** Bytes of log pages kept in shared memory (the bounded page cache); unset: the whole log is mirrored. */
  cacheSize?: number;
  /** The index snapshot's table as the opener read it while this thread booted; used only if it checks out. */
  prefetchedSnapshot?: PrefetchedSnapshot;
}

/**
 * The writer's hold on the log file: the append path (mirror, file, LSN
 * counter, index, in that order), flush and the header-slot write, the
 * buffer-set publication and the failure that poisons the engine. WriterEngine
 * (engine.ts) adds open, checkpoints, compaction and the rest on top.
 */
export abstract class LogWriter {
  protected readonly ctl32: Int32Array;
  protected readonly ctl64: BigInt64Array;
  /** The end of the log, in the control block (shm/control.ts): advanced here, read by any thread. */
  protected readonly lsn: LsnCounter;
  protected state!: LogState;
  protected fd = -1;
  protected durableLsn = DATA_START;
  protected readonly slots = new HeaderSlots();
  protected writes = 0;
  /** fdatasyncs of the log by flush() and checkpoint() since open (group commit shares them). */
  protected syncs = 0;
  /** Wall time spent in those fdatasyncs: with `syncs`, what one sync costs on this disk. */
  protected syncMs = 0;
  protected failure: EmdbError | undefined;
  /** Set by reencrypt(): the file was replaced, this engine writes nothing more. */
  protected retired = false;
  /** Prelude version of the open file: version 1 files keep version 1 slots (no prefix CRC). */
  protected formatVersion = FORMAT_VERSION;
  protected prefix = new PrefixCrc();
  /** Encrypted files: keys and key generation; records are sealed here, where their LSN is known. */
  protected crypt: LogCrypt | undefined;
  /** DURABLE_MARKs before batches written after a sync (format 3 files). */
  protected readonly marks = new DurableMarks();
  /** Bumped when the log's mirror and index are replaced by a compaction's (BufferSet.logEpoch). */
  protected logEpoch = 0;
  /** Namespaces dropped since open: every buffer set carries them (BufferSet.droppedNs). */
  protected readonly droppedNamespaces: number[] = [];
  /** Zeros written ahead of the log, so a durable append does not change the file size. */
  protected readonly prealloc: Preallocation;
  /** The bounded page cache's pool and generations (framed-generations.ts), when the log is read through it. */
  protected framed: FramedGenerations | undefined;
  /** When the log is to be read through the page cache (cache-plan.ts); undefined: never (in memory, encrypted, cacheSize Infinity). */
  protected cachePlan: CachePlan | undefined;
  /** Brackets each batch's index publication, so getMany sees batches whole (rule R6). */
  private readonly batches: BatchPublisher;

  constructor(protected readonly opts: EngineOptions) {
    this.ctl32 = new Int32Array(opts.control);
    this.ctl64 = new BigInt64Array(opts.control);
    this.lsn = new LsnCounter(opts.control);
    this.lsn.reset(DATA_START);
    this.prealloc = new Preallocation(opts.io, opts.path);
    this.batches = new BatchPublisher(opts.control);
  }

  /** The database clock (shm/clock.ts): what every expiry decision here is taken against. */
  readonly now = (): number => clockNow(this.ctl64);

  /** Sizes the index once for `records` more keys (before a batch applied in several appends). */
  reserveKeys(records: number): void {
    this.state.reserveKeys(records);
  }

  /**
   * Refuses a transaction (nothing appended) whose records write into a
   * namespace dropped before it reached the writer: applied, its writes there
   * would be discarded (LogState.apply) and the rest committed, half of an
   * all-or-nothing commit. Decided here, in message order, so no drop can
   * come between the check and the append.
   */
  assertNamespacesLive(ids: readonly number[]): void {
    for (const id of ids) {
      if (!this.state.namespaces.has(id)) throw new EmdbError(ErrorCode.CLOSED, 'a namespace this transaction writes into was dropped before it committed: nothing of it was written');
    }
  }

  /**
   * Appends a batch of framed records (built and CRC-sealed by the producer
   * thread) and applies them to the index. File first, index second: a reader
   * never sees a record that failed to reach the file. Returns, per record,
   * whether its key existed before.
   */
  append(input: Uint8Array, wantExisted = true, records = 0): Uint8Array | undefined {
    this.assertWritable();
    // One rebuild sized for the whole batch instead of several doublings inside it.
    this.state.reserveKeys(records);
    // Before the file is touched (and after the table the apply will probe is final): applying the batch reads
    // older records (the ones its keys replace), and a damaged page found after the bytes reached the file
    // would leave a write both refused and in the log.
    this.loadReplaced(input);
    const lsn = this.lsn.next;
    const framed = this.marks.frame(input, this.durableLsn, this.slots.tailHint);
    const sealed = this.crypt?.sealBatch(framed.bytes, lsn);
    const batch = sealed ? sealed.mirror : framed.bytes;
    const fileBytes = sealed ? sealed.file : batch;
    const len = batch.length;
    if (this.state.mirror.writeRecords(lsn, batch)) this.publishBuffers();
    if (this.fd >= 0) {
      try {
        this.prealloc.grow(this.fd, lsn, len);
        writeFully(this.opts.io, this.fd, fileBytes, 0, len, lsn);
        if (this.prefix instanceof FedPrefixCrc) this.prefix.feed(fileBytes);
        // U2: readers of a sealed framed log may read these bytes from the file now.
        this.state.mirror.onFile(lsn + len);
      } catch (err) {
        // A rolled-back append frees its LSNs for other bytes, sealed then under new random nonces (FORMAT.md, "Nonces").
        // The LSN counter and the index are untouched yet, so a full disk can be rolled back.
        const full = rollBackFullDisk(this.opts.io, this.fd, lsn, err);
        this.prealloc.truncated(lsn, full !== undefined);
        throw full ?? this.fail('write', err);
      }
    }
    // In the mirror and the file: now the bytes are part of the log (rule R3), and then they are indexed (R1).
    const end = this.lsn.advance(len);
    if (this.fd < 0 || this.opts.flushPolicy.kind === 'writeThrough') this.durableLsn = end;
    this.batches.begin();
    try {
      if (framed.markBytes > 0) {
        // Framing, not a write: no `existed` entry, not counted in `writes`.
        this.state.apply(lsn);
        this.marks.written(framed.value);
      }
      const existed = this.applyRange(lsn + framed.markBytes, end, wantExisted);
      // One store publishes the batch to range scans (rule S2); a new run set is a new buffer set.
      if (this.state.sorted?.commit()) this.publishBuffers();
      return existed;
    } catch (err) {
      // The batch is in the file and half applied (a record it read was damaged): nothing more may be written.
      if (err instanceof EmdbError && err.code === ErrorCode.CORRUPTION) this.failure ??= err;
      throw err;
    } finally {
      // Even a batch that failed half-way ends its bracket: readers must not wait on it forever.
      this.batches.end();
    }
  }

  private applyRange(from: number, to: number, wantExisted: boolean): Uint8Array | undefined {
    const mirror = this.state.mirror;
    const existed: number[] | undefined = wantExisted ? [] : undefined;
    for (let lsn = from; lsn < to; ) {
      // Records of this append: past the lazy range (L4).
      const off = mirror.residentRecordAt(lsn);
      const size = frameSize(mirror.recDv, off);
      const had = this.state.apply(lsn);
      lsn += size;
      // A sealed unit's opener (encrypted, scheme 2) frames records: no result, not a write.
      if (had < 0) continue;
      existed?.push(had);
      this.writes++;
    }
    return existed && Uint8Array.from(existed);
  }

  /** True when flush() has work to do: unsynced records, or a failure it must report. */
  needsSync(): boolean {
    return this.failure !== undefined || (this.fd >= 0 && this.durableLsn !== this.lsn.next);
  }

  /** Makes every appended record durable (one fdatasync unless already durable). */
  flush(): void {
    this.assertWritable();
    const end = this.lsn.next;
    if (this.fd < 0 || this.durableLsn === end) return;
    try {
      this.syncLog();
    } catch (err) {
      this.dropUnsynced();
      throw this.fail('fdatasync', err);
    }
    this.durableLsn = end;
  }

  /** `auto`: an automatic checkpoint, whose fdatasync is counted in autoCheckpoints, not in syncs. */
  protected writeSlot(auto = false): void {
    const now = Date.now();
    // A version 1 file keeps version 1 slots, so older builds still read it.
    const prefixCrc = this.formatVersion >= PREFIX_CRC_SINCE_VERSION ? this.prefix.upTo(this.state.mirror, this.durableLsn) : undefined;
    const slot = this.slots.next(this.durableLsn, this.state.index.live, prefixCrc, now);
    try {
      writeFully(this.opts.io, this.fd, slot.bytes, 0, slot.bytes.length, slot.at);
      this.syncLog(!auto);
    } catch (err) {
      throw this.fail('checkpoint', err);
    }
    this.slots.written(slot.at, this.durableLsn, now);
  }

  currentBuffers(generation = Atomics.load(this.ctl32, Ctl32.GENERATION)): BufferSet {
    const sorted = this.state.sorted?.manifest();
    const dropped = this.droppedNamespaces.length > 0 ? { droppedNs: [...this.droppedNamespaces] } : {};
    return { generation, logEpoch: this.logEpoch, index: this.state.index.buffer, ...this.state.mirror.shareable(), ...(sorted ? { sorted } : {}), ...dropped };
  }

  /**
   * Reads the log at `file` (ending at `end`) through the frame pool from now
   * on: the mirror that open or compaction built it in is dropped, and with it
   * the memory that grew with the log (docs/DESIGN.md, "Bounded page cache").
   * A lazily opened log's page descriptor is closed: nobody has its loader yet.
   */
  /**
   * Reads the log through the page cache from now on when the plan says so for
   * a log ending at `end` (open, and each compaction's swap: a log that grew
   * past the default plan's threshold is framed then); once framed, it stays.
   */
  protected frameIfPlanned(file: string, end: number, replaced?: MirrorWriter): void {
    const plan = this.cachePlan;
    // A log open replayed through a window (it was larger than the threshold before its residue was cut) is framed too.
    if (!this.framed && plan && this.frameable() && (end > plan.above || this.state.mirror instanceof WindowedLog)) this.framed = new FramedGenerations(plan.bytes, this.opts.io);
    this.useFrames(file, end, replaced);
  }

  protected useFrames(file: string, end: number, replaced?: MirrorWriter): void {
    const framed = this.framed;
    if (!framed) return;
    if (replaced instanceof FramedWriter) framed.retire(replaced);
    if (!this.frameable()) return;
    const built = this.state.mirror;
    if (built.pages) new LazyWarmer(built.pages, (fd) => this.opts.io.close(fd)).retire(true);
    const mirror = framed.open(file, end, this.crypt && generationSeal(this.crypt, built));
    mirror.pageCheck = () => ({ boundaries: this.prefix.boundaries(), covered: this.prefix.lsn });
    this.state.mirror = mirror;
    // The window the open replayed the log through (open-log.ts, `streamed`) has served its purpose.
    if (built instanceof WindowedLog) built.close();
  }

  /**
   * Whether this log can be read through frames: plaintext, or sealed in
   * units (record scheme 2). A scheme 1 file (records sealed one by one,
   * their keys behind a nonce in the mirror form) stays whole; a key
   * rotation converts it (FORMAT.md, "Sealed units").
   */
  protected frameable(): boolean {
    return !this.crypt || this.crypt.batch !== undefined;
  }

  /**
   * A sealed (scheme 2) log's unit directory entries for the pages before
   * `end`, for an index snapshot: from the frames' directory, or, for a log
   * kept whole, noted from its items' headers in memory (one per unit), so
   * that a later open through the cache is lazy whichever way this one ran.
   */
  protected unitEntries(end: number): Float64Array | undefined {
    const mirror = this.state.mirror;
    if (mirror instanceof FramedWriter) return mirror.unitEntries(end);
    if (!this.crypt?.batch) return undefined;
    const directory = new UnitDirectory(newUnitDirectory(end));
    directory.noteLog(DATA_START, end, generationSeal(this.crypt, mirror).headerAt);
    return directory.entries(end);
  }

  /** The framed log's warm-up has free frames to fill (workers/writer.ts runs warmStep() when idle). */
  protected framedWarmPending(): boolean {
    const mirror = this.state.mirror;
    return this.framed !== undefined && mirror instanceof FramedWriter && this.framed.warmPending(mirror, this.prefix.boundaries());
  }

  /** One step of the framed log's warm-up; true while more remain. */
  protected framedWarm(budgetMs: number): boolean {
    const mirror = this.state.mirror;
    if (!this.framed || !(mirror instanceof FramedWriter)) return false;
    return this.framed.warm(mirror, this.prefix.boundaries(), this.prefix.lsn, budgetMs);
  }

  protected cacheStats(): CacheStats | null {
    const filler = this.framed?.filler;
    if (!filler || !(this.state.mirror instanceof FramedWriter)) return null;
    return { bytes: filler.frames * FRAME_BYTES, residentBytes: (filler.frames - filler.freeFrames) * FRAME_BYTES, evictions: filler.evictions };
  }

  /**
   * The page cache's timer work (workers/writer.ts, every 250 ms): caches the
   * pages readers read from the file lately, and closes the descriptors of
   * generations a compaction replaced once nobody reads through them.
   */
  cacheTick(): void {
    const framed = this.framed;
    if (!framed) return;
    const mirror = this.state.mirror;
    if (mirror instanceof FramedWriter && !this.failure) framed.fillWanted(mirror, this.prefix.boundaries(), this.prefix.lsn);
    framed.retireIdle();
  }

  get failed(): EmdbError | undefined {
    return this.failure;
  }

  protected publishBuffers(): void {
    const generation = Atomics.load(this.ctl32, Ctl32.GENERATION) + 1;
    this.opts.publish(this.currentBuffers(generation));
    Atomics.store(this.ctl32, Ctl32.GENERATION, generation);
  }

  /**
   * One fdatasync of the log, counted and timed for stats() (a failed one counts
   * nothing). `counted` false: the automatic checkpoint's, which stats() reports
   * as autoCheckpoints so `syncs` stays what flush() and checkpoint() cost.
   */
  private syncLog(counted = true): void {
    const started = performance.now();
    this.opts.io.fdatasync(this.fd);
    if (!counted) return;
    this.syncMs += performance.now() - started;
    this.syncs++;
  }

  /**
   * Cuts the preallocated zeros so the file is the log (close, and before the
   * file is copied or rewritten: tools and users read the file size). An I/O
   * error here is reported like a failed checkpoint; the zeros it may leave
   * are valid file content that the next open cuts.
   */
  protected trimPreallocation(): void {
    if (this.fd < 0 || this.failure || this.retired) return;
    try {
      this.prealloc.trim(this.fd, this.lsn.next);
    } catch (err) {
      this.prealloc.reset();
      throw this.fail('trim', err);
    }
  }

  /** A lazily opened log loads the pages of the records `batch` replaces (WriterEngine); nothing to do otherwise. */
  protected loadReplaced(_batch: Uint8Array): void {}

  protected assertWritable(): void {
    if (this.failure) throw this.failure;
    if (this.retired) throw new EmdbError(ErrorCode.CLOSED, 'the database was rewritten by an encryption change; reopen it');
  }

  /**
   * After a failed fdatasync Linux marks the unsynced pages clean: they stay
   * readable in the page cache but may never reach the disk, so a reopen would
   * take them for durable records and later checkpoint past a hole. Cut them off
   * the file (best effort: the fdatasync failure is the one reported).
   */
  private dropUnsynced(): void {
    try {
      this.prealloc.truncated(this.durableLsn);
      this.opts.io.ftruncate(this.fd, this.durableLsn);
    } catch {
      // see above
    }
  }

  /**
   * An I/O error poisons the engine: after a failed write or fdatasync we cannot
   * know what reached the disk, so every later write is refused until reopen.
   */
  protected fail(op: string, err: unknown): EmdbError {
    this.failure = ioError(op, err);
    Atomics.store(this.ctl32, Ctl32.STATE, DbState.FAILED);
    return this.failure;
  }
}

/**
 * What the frames of an encrypted log need (framed-generations.ts): its cipher
 * and records subkey, and the headers of its mirror form's items, read from
 * `built`, the log as open or compaction built it (whole, or the directory an
 * open through a window noted).
 */
function generationSeal(crypt: LogCrypt, built: MirrorWriter): GenerationSeal {
  const keys = crypt.records.keys;
  return {
    cipher: CIPHER_ID[keys.cipher],
    key: keys.records,
    // A log replayed through a window, or staged by a compaction, noted its units as it was built.
    ...(built instanceof UnsegmentedLog && built.unitDirectory ? { directory: built.unitDirectory } : {}),
    headerAt: (lsn) => {
      const off = built.residentRecordAt(lsn);
      const dv = built.recDv;
      return new DataView(dv.buffer, dv.byteOffset + off, Math.min(dv.byteLength - off, SEAL_RECORD_SIZE));
    },
  };
}
