import { EmdbError, ErrorCode, ioError } from '../errors.js';
import { rewriteProtection } from './reencrypt.js';
import { DATA_START, ENCODING_ID, LOG_PAGE_SHIFT, RecordKind, V3 } from '../format/constants.js';
import { encodingNameOf } from '../format/header.js';
import { catalogueRecord } from '../format/record.js';
import type { FileIO } from '../log/file-io.js';
import type { LogState } from '../log/log-state.js';
import { Ctl32, DbState } from '../shm/layout.js';
import type { StatsSnapshot, ValueEncoding } from '../types.js';
import { backupSource, BackupJob } from './backup.js';
import { persistRecord, sweepBatch } from './expiry.js';
import { checkEncoding, newInMemoryLog, openLog, recoveryStats, type OpenReport } from './open-log.js';
import type { EncryptionSpec } from '../crypto/keys.js';
import { FedPrefixCrc } from '../log/log-crypt.js';
import type { SnapshotSealer } from '../crypto/snapshot-crypt.js';
import { writeSnapshot } from './snapshot.js';
import { snapshotPath, type SnapshotHeader } from '../format/snapshot.js';
import { readSortedSection } from './sorted-persist.js';
import { buildSorted } from '../shm/sorted-build.js';
import { buildSortedInLogOrder } from './sorted-rebuild.js';
import { SortedIndexWriter } from '../shm/sorted-writer.js';
import { CompactingWriter } from './compacting-writer.js';
import { LazyWarmer } from '../shm/lazy-pages.js';
import { lazyOpenMinBytes, lazyWarmInBackground } from './lazy-open.js';
import { cachePlan } from './cache-plan.js';
import { isEncrypted } from '../format/header.js';
import { WindowedLog } from '../shm/windowed-log.js';
import { FramedWriter } from '../shm/framed-writer.js';
import { prefetchReplaced } from './lazy-prefetch.js';

export type { EngineOptions } from './log-writer.js';

/** A checkpoint rewrites the index snapshot once the log grew by 1/4 of the table's bytes (DESIGN.md, "Reopen"). */
const SNAPSHOT_EVERY = 4;
/**
 * The automatic checkpoint (a header-slot write, FORMAT.md "Header slots") advances the tail hint once this much was made
 * durable past it, or once this long has passed: it bounds the window in which damage cannot be told from crash residue.
 */
export const AUTO_CHECKPOINT_BYTES = 16 * 1024 * 1024;
export const AUTO_CHECKPOINT_MS = 1000;

/**
 * The single owner of the log file. Everything here runs on the writer thread;
 * the methods are synchronous and are called in message order. The append path
 * and the file's low-level state are in LogWriter (log-writer.ts).
 */
export class WriterEngine extends CompactingWriter {
  /** Removal records written by the sweep since open (stats().ttl.swept), and its longest batch, ms. */
  private swept = 0;
  private maxSweepMs = 0;
  /** When the sweep's current run (batches until nothing is due) began, 0 between runs; and how long the last one took. */
  private sweepRunFrom = 0;
  private lastSweepMs = 0;
  /** Header slots written by the automatic checkpoint since open (each with its own fdatasync). */
  private autoCheckpoints = 0;
  /** Set only once open() completed: a refused or half-opened file is never written. */
  private opened = false;
  /** Log end when the file was opened: an open that appends nothing never writes (not even an automatic checkpoint). */
  private openedEnd = DATA_START;
  /** The snapshot on disk lets a reopen be lazy (page CRCs, or a sealed log's unit directory); a last close rewrites one that does not. */
  private snapshotLazy = false;
  /** When this engine last saved an index snapshot (stats().lastCheckpointAt counts it). */
  private snapshotAt = 0;
  /** Why the last index snapshot could not be written (a cache: the checkpoint itself succeeded; stats() reports the message). */
  private snapshotFailure: EmdbError | undefined;
  recovery: OpenReport | undefined;
  /** A lazily opened log: loads the pages nobody read yet, then retires the descriptor (shm/lazy-pages.ts). */
  private warmer: LazyWarmer | undefined;
  /** How open got the sorted index: from the snapshot's sorted section, or rebuilt from the hash index. */
  private sortedSource: 'snapshot' | 'rebuilt' | null = null;
  /** The sorted index was rebuilt at open and no snapshot holds it yet: the close writes one, or every later open rebuilds it again. */
  private sortedUnsaved = false;

  open(): void {
    const { io, path: file } = this.opts;
    if (file === null) {
      this.state = newInMemoryLog(this.opts.valueEncoding);
      this.state.onIndexReplaced = () => this.publishBuffers();
      this.state.now = this.now;
      this.state.incrementalPurge = true;
    } else {
      this.openFile(io, file);
    }
    if (this.opts.rangeScans) {
      this.sortedSource ??= 'rebuilt';
      // Rebuilding the sorted index reads every live key.
      if (!this.state.sorted) {
        this.warmAll();
        this.sortedUnsaved = file !== null;
      }
      const mirror = this.state.mirror;
      this.state.sorted ??=
        mirror instanceof FramedWriter ? buildSortedInLogOrder(this.state.index, mirror, this.lsn.next, this.opts.rangeScans) : buildSorted(this.state.index, mirror, this.opts.rangeScans);
      // Publishes what the replay appended to a loaded sorted index.
      this.state.sorted.commit();
    }
    this.publishBuffers();
    this.opened = true;
    Atomics.store(this.ctl32, Ctl32.STATE, DbState.OPEN);
  }

  private openFile(io: FileIO, file: string): void {
    const limits = this.opts.rangeScans;
    // A sorted section that matches the snapshot is loaded before the replay, which then keeps it exact.
    const attachSorted = limits && ((state: LogState, snap: SnapshotHeader | undefined, sealer: SnapshotSealer | undefined) => {
      const run = snap && readSortedSection(io, snapshotPath(file), snap, sealer);
      if (run) state.sorted = new SortedIndexWriter([run], limits);
    });
    // Streamed and framed only where other threads can pread the descriptors (not a simulated file system).
    const plan = io.sharedDescriptors === true ? cachePlan(this.opts.cacheSize) : undefined;
    this.cachePlan = plan;
    const log = openLog(io, file, this.opts.flushPolicy, (fd) => (this.fd = fd), {
      valueEncoding: this.opts.valueEncoding ?? 'binary',
      ...(this.opts.anyEncoding ? { anyEncoding: true } : {}),
      recovery: this.opts.recovery ?? 'strict',
      encryption: this.opts.encryption,
      ...(attachSorted ? { beforeReplay: attachSorted } : {}),
      ...(plan ? { streamAbove: plan.above } : {}),
      ...(this.opts.prefetchedSnapshot ? { prefetched: this.opts.prefetchedSnapshot } : {}),
    });
    // Used or not, it is not needed again (a reopen after a failed open must not reuse it).
    delete this.opts.prefetchedSnapshot;
    // Whatever path the open took, an encrypted file is never written without its keys (plaintext at rest).
    if (isEncrypted(log.prelude) !== (log.crypt !== undefined)) throw new Error('open returned no keys for an encrypted file (or keys for a plaintext one)');
    this.crypt = log.crypt;
    if (this.crypt) {
      this.prefix = new FedPrefixCrc();
      this.slots.seal = this.crypt.slotBytes.bind(this.crypt);
    }
    this.sortedSource = log.state.sorted ? 'snapshot' : null;
    this.state = log.state;
    this.state.onIndexReplaced = () => this.publishBuffers();
    this.state.now = this.now;
    this.state.incrementalPurge = true;
    this.formatVersion = log.prelude.version;
    this.fileId = log.prelude.fileId;
    this.slots.load(log.slot);
    this.recovery = log.report;
    this.prefix.reset(log.prefix.lsn, log.prefix.crc, log.prefix.pages);
    try {
      this.frameIfPlanned(file, log.report.end);
    } catch (err) {
      // A log replayed through a window (open-log.ts, `streamAbove`) holds a descriptor of its own.
      if (this.state.mirror instanceof WindowedLog) this.state.mirror.close();
      throw err;
    }
    if (this.state.mirror.pages) this.warmer = new LazyWarmer(this.state.mirror.pages, (fd) => this.opts.io.close(fd));
    this.snapshotTail = log.snapshotTail;
    this.snapshotLazy = log.snapshotLazy;
    this.lsn.reset(log.report.end);
    this.durableLsn = log.report.end;
    this.marks.reset(log.slot.tailHint, log.prelude.version >= V3);
    this.openedEnd = log.report.end;
  }

  /**
   * The default plan's threshold crossed while open (the log grew past a
   * quarter of the memory budget): the log is read through the page cache
   * from now on, as an open or a compaction would have decided. The old
   * buffer set (the whole-log mirror, and the index as it is now: a copy takes
   * over) stays valid and frozen for reads in flight; the new one is published
   * before any later write. The writer's timer calls it between requests,
   * never while a compaction or a backup runs (they read the log across
   * steps), nor while a lazily opened log's pages still load (readers of the
   * old set load them through its descriptor). True when it switched.
   */
  frameIfGrown(): boolean {
    const plan = this.cachePlan;
    const file = this.opts.path;
    if (this.framed || !plan || !this.frameable() || this.failure || this.retired || !this.opened || this.warmer || file === null || this.fd < 0) return false;
    if (this.lsn.next <= plan.above) return false;
    try {
      this.frameIfPlanned(file, this.lsn.next, this.state.mirror);
    } catch (err) {
      // Nothing was published: the whole log stays, and a later turn may try again.
      this.framed = undefined;
      throw err;
    }
    this.state.detachIndex();
    this.logEpoch++;
    this.publishBuffers();
    return true;
  }

  /** A lazily opened log still has pages on disk (workers/writer.ts runs warmStep() when idle). */
  warming(): boolean {
    return this.warmer !== undefined;
  }

  /** Whether idle turns load the pages nobody read (EMDB_LAZY_WARM=0 turns it off: the test suites then meet absent pages everywhere). */
  warmsInBackground(): boolean {
    return (this.warmer !== undefined || this.framedWarmPending()) && lazyWarmInBackground();
  }

  /**
   * Loads pages nobody has read yet for about `budgetMs`; true when more
   * remain. Once all are in memory the descriptor is closed and a new buffer set
   * without the page loader is published, so reads stop checking pages.
   * A damaged page poisons the engine (writes are refused with
   * ERR_EMDB_CORRUPTION, the file is never written again) and is thrown.
   */
  warmStep(budgetMs: number): boolean {
    const warmer = this.warmer;
    if (!warmer) return this.framedWarm(budgetMs);
    let more: boolean;
    try {
      more = warmer.step(budgetMs);
    } catch (err) {
      this.failure ??= err instanceof EmdbError ? err : ioError('load of a log page', err);
      this.warmer = undefined;
      throw err;
    }
    if (more) return true;
    this.warmer = undefined;
    this.state.mirror.pages = undefined;
    this.publishBuffers();
    return false;
  }

  protected override loadReplaced(batch: Uint8Array): void {
    if (!this.warmer) {
      // A framed log reads replaced records from the file: the same probes meet a damaged one before the append.
      if (this.state.mirror instanceof FramedWriter) this.checkReplaced(batch);
      return;
    }
    let loaded: boolean;
    try {
      loaded = prefetchReplaced(this.state, batch);
    } catch (err) {
      // As in warmStep: a damaged page refuses every later write, and the file is never written again.
      this.failure ??= err instanceof EmdbError ? err : ioError('load of a log page', err);
      throw err;
    }
    if (!loaded) this.warmAll();
  }

  /**
   * The framed log's counterpart of the lazy prefetch: the probes of the
   * batch's keys read (from frames, else the file, CRC-checked) every older
   * record the apply will compare with, so a damaged one is met before the
   * file is touched. Batches the prefetch cannot cover (a purge under way, a
   * rebuild inside the apply, clears, TTL bookkeeping) are not checked here:
   * damage met inside their apply poisons the engine (LogWriter.append).
   */
  private checkReplaced(batch: Uint8Array): void {
    try {
      prefetchReplaced(this.state, batch);
    } catch (err) {
      this.failure ??= err instanceof EmdbError ? err : ioError('read of a log record', err);
      throw err;
    }
  }

  /** Every page in memory before work that reads the whole log (compaction, backup, a namespace drop, the sorted index build). */
  warmAll(): void {
    if (this.failure && this.failure.code === ErrorCode.CORRUPTION) throw this.failure;
    this.warmStep(Infinity);
  }

  /** The sorted index has a full tail to sort or runs to merge (workers/writer.ts runs maintainSorted() when idle). */
  sortedNeedsMerge(): boolean {
    return this.state.sorted?.needsMaintenance() === true && !this.failure;
  }

  /** One step of sorted-index upkeep (a tail sort, or a merge step of at most a few ms), a changed run set published as a new buffer set (rule S1); true when more remain. */
  maintainSorted(): boolean {
    const sorted = this.state.sorted;
    if (!sorted?.needsMaintenance()) return false;
    if (sorted.maintain()) this.publishBuffers();
    return sorted.needsMaintenance();
  }

  /** A tombstone purge of the index is under way (workers/writer.ts steps it between requests). */
  indexPurging(): boolean {
    return this.state.purging && !this.failure;
  }

  /** One step of the purge, about `budgetMs` of copying (log-state.ts stepPurge); true when more remain. */
  purgeIndex(budgetMs: number): boolean {
    return !this.failure && this.state.stepPurge(budgetMs);
  }

  /** Live keys in namespace `ns`: exact, also while expired keys wait for the sweep. */
  count(ns: number): number {
    const raw = this.state.counts.get(ns) ?? 0;
    return raw === 0 ? 0 : raw - this.state.expiredCount(ns, this.now());
  }

  /** Clears the TTL of a live key by re-writing its value with no deadline; false (nothing written) when missing, expired or without TTL. */
  persist(ns: number, key: Uint8Array): boolean {
    this.assertWritable();
    const rec = persistRecord(this.state, ns, key, this.now());
    if (!rec) return false;
    this.append(rec, false, 1);
    return true;
  }

  /** The earliest deadline the sweep waits for (Infinity when none). */
  nextDeadline(): number {
    return this.state.deadlines.peekDeadline();
  }

  /**
   * One bounded sweep step: removal records for at most `max` keys whose
   * deadline passed, gathered for at most `budgetMs`, appended as one batch.
   * True when more are due now.
   */
  sweep(max: number, budgetMs: number): boolean {
    if (this.failure || !this.opened) return false;
    const started = performance.now();
    if (this.sweepRunFrom === 0) this.sweepRunFrom = started;
    const now = this.now();
    const { batch, count } = sweepBatch(this.state, now, max, started + budgetMs);
    if (count > 0) {
      this.append(batch, false, 0);
      this.swept += count;
    }
    const ended = performance.now();
    this.maxSweepMs = Math.max(this.maxSweepMs, ended - started);
    const more = this.state.deadlines.peekDeadline() <= now;
    if (!more) [this.lastSweepMs, this.sweepRunFrom] = [ended - this.sweepRunFrom, 0];
    return more;
  }

  namespaceNames(): string[] {
    return [...this.state.namespaces.values()];
  }

  /** The id the next new namespace gets (ids of dropped namespaces are never reused). */
  get nextNamespaceId(): number {
    return this.state.nextNamespaceId;
  }

  /**
   * The id of namespace `name`; with `create`, a missing one is added to the
   * catalogue by appending an NS_CREATE record (ids are never reused). -1 if absent.
   */
  namespace(name: string, create: boolean, encoding?: ValueEncoding): number {
    const found = this.state.namespaceId(name);
    if (found >= 0) {
      // Format 3 recorded the namespace's encoding at creation; an open with another one is refused.
      if (encoding !== undefined) checkEncoding(this.state.nsEncodings.get(found) ?? 0, encoding, `namespace '${name}'`);
      return found;
    }
    if (!create) return found;
    const id = this.state.nextNamespaceId;
    const code = this.formatVersion >= V3 ? ENCODING_ID[encoding ?? this.opts.valueEncoding ?? 'binary'] : undefined;
    this.append(catalogueRecord(RecordKind.NS_CREATE, id, name, code), false);
    return id;
  }

  /** The value encoding namespace `id` recorded at creation, or undefined (none recorded, or no such namespace). */
  namespaceEncoding(id: number): ValueEncoding | undefined {
    return encodingNameOf(this.state.nsEncodings.get(id) ?? 0);
  }

  /** Drops namespace `name` and its keys (an NS_DROP record). False when absent. */
  dropNamespace(name: string): boolean {
    const id = this.state.namespaceId(name);
    if (id < 0) return false;
    this.append(catalogueRecord(RecordKind.NS_DROP, id, name), false);
    // Before the reply: a handle to this namespace on any thread sees the drop at its next call.
    this.droppedNamespaces.push(id);
    this.publishBuffers();
    return true;
  }

  /**
   * Flush, then record the durable tail (and, from format 2, the CRC of every
   * log byte before it) in the older header slot (A/B), then sync that; then
   * refresh the index snapshot so the next open replays only what follows. A
   * checkpoint skips the snapshot while the records since the last one are
   * cheaper to replay than the snapshot is to write (`final`: the last close
   * always writes it). `snapshotOptional` (close): a snapshot that cannot be
   * written (a full disk) is left out rather than thrown: the log is durable
   * without it and only the next open is slower; snapshotFailure keeps why.
   */
  checkpoint(final = false, snapshotOptional = false): void {
    this.flush();
    if (this.fd < 0) return;
    if (this.slots.stale(this.durableLsn)) this.writeSlot();
    const behind = this.durableLsn - this.snapshotTail;
    // At close, a snapshot is written without new records too when it would spare the next open work: reading a large
    // log (a lazy open needs page CRCs or the unit directory: plaintext, or sealed in units) or rebuilding the sorted index.
    const upgrade = final && ((!this.snapshotLazy && this.frameable() && this.durableLsn >= lazyOpenMinBytes()) || this.sortedUnsaved);
    if (!((behind > 0 || upgrade) && (final || this.snapshotTail < 0 || behind >= this.state.index.buffer.byteLength / SNAPSHOT_EVERY))) return;
    try {
      this.saveSnapshot();
    } catch (err) {
      if (!snapshotOptional) throw err;
    }
  }

  /** Log bytes past the last index snapshot and the index's size; [0, 0] when nothing was written since open (idle-snapshot.ts). */
  snapshotLag(): [behind: number, indexBytes: number] {
    if (!this.checkpointable()) return [0, 0];
    return [this.lsn.next - Math.max(0, this.snapshotTail), this.state.index.buffer.byteLength];
  }

  /** Open, writable, not retired, and appended to since open: the automatic checkpoints may run. */
  private checkpointable(): boolean {
    return this.opened && this.fd >= 0 && !this.failure && !this.retired && this.lsn.next !== this.openedEnd;
  }

  /**
   * True when a sync left AUTO_CHECKPOINT_BYTES or more durable past the tail
   * hint: the writer then runs autoCheckpoint() right after the sync's replies
   * instead of at its next timer tick, so a process that dies right after a
   * large durable load reopens with those bytes checked by the prefix CRC
   * (one streaming pass) rather than record by record.
   */
  autoCheckpointDue(): boolean {
    return this.checkpointable() && this.durableLsn - this.slots.tailHint >= AUTO_CHECKPOINT_BYTES;
  }

  /**
   * The automatic checkpoint (the writer's timer, between requests): a header-slot
   * write moving the tail hint up to the durable LSN once AUTO_CHECKPOINT_BYTES or
   * AUTO_CHECKPOINT_MS have passed; it syncs nothing the flush policy has not
   * synced and skips the index snapshot. Returns whether it wrote a slot.
   */
  autoCheckpoint(now = Date.now()): boolean {
    if (!this.checkpointable()) return false;
    const tail = this.slots.tailHint;
    if (this.durableLsn <= tail) return false;
    if (this.durableLsn - tail < AUTO_CHECKPOINT_BYTES && now - this.slots.checkpointAt < AUTO_CHECKPOINT_MS) return false;
    this.writeSlot(true);
    this.autoCheckpoints++;
    return true;
  }

  /**
   * Writes the index snapshot for the state at the end of the log, which the caller has
   * made durable and checkpointed. The snapshot is a cache of the log, so a
   * failure is reported (ERR_EMDB_IO) but does not poison the engine: the log
   * was not touched, a half-written snapshot is never renamed into place, and
   * the previous one stays valid for the prefix it describes.
   */
  private saveSnapshot(): void {
    const file = this.opts.path;
    if (this.fd < 0 || file === null) return;
    const end = this.lsn.next;
    let units: Float64Array | undefined;
    try {
      const crc = this.prefix.upTo(this.state.mirror, end);
      // The sorted index is persisted as one run: collapse it (readers get the merged run too).
      if (this.state.sorted?.collapse()) this.publishBuffers();
      const mirror = this.state.mirror;
      units = this.unitEntries(end);
      writeSnapshot(this.opts.io, file, this.state, this.fileId, end, crc, this.crypt?.snapshot, {
        pages: this.crypt ? undefined : this.prefix.pageCrcs(mirror),
        units: units && { pageShift: LOG_PAGE_SHIFT, items: units },
      });
    } catch (err) {
      const error = ioError('index snapshot', err);
      this.snapshotFailure = error;
      throw error;
    }
    this.snapshotTail = end;
    this.snapshotAt = Date.now();
    this.snapshotLazy = !this.crypt || units !== undefined;
    this.sortedUnsaved = false;
    this.snapshotFailure = undefined;
  }

  /**
   * Starts a backup of the log as it is now: [0, end of the log), i.e. every write
   * acknowledged before the request. The caller steps the job between other
   * requests; the bytes it copies never change, whatever happens meanwhile.
   */
  startBackup(target: string): BackupJob {
    return BackupJob.start(this.opts.io, backupSource(this.state, this.lsn.next, this.crypt), this.opts.path, target);
  }

  /**
   * Rewrites the database under new protection (`to`: new keys, undefined:
   * plaintext) and swaps it in (writer/reencrypt.ts). The engine then only
   * closes: its descriptor is the old file's, which must not be written again.
   */
  reencrypt(to: EncryptionSpec | undefined, keepBackup: boolean): void {
    this.assertWritable();
    const { io, path: file } = this.opts;
    if (file === null || this.fd < 0) throw new EmdbError(ErrorCode.INVALID_CONFIG, 'an in-memory database has no file to encrypt');
    this.flush();
    this.trimPreallocation();
    const spec = to && { ...to, cipher: to.cipher ?? this.crypt?.keys.cipher ?? 'aes-256-gcm' };
    rewriteProtection({ io, file, fd: this.fd, state: this.state, to: spec, keepBackup, now: this.now() });
    this.retired = true;
  }

  /** Checkpoints (when opened and healthy) and releases the file. */
  /** Returns the error that kept the index snapshot from being written, when one did: the close itself succeeded. */
  close(): EmdbError | undefined {
    try {
      this.warmer?.retire(true);
      // Trimmed first: the checkpoint's fdatasync then makes the new size durable too.
      if (this.opened) this.trimPreallocation();
      if (this.opened && !this.failure && !this.retired) {
        this.checkpoint(true, true);
        return this.snapshotFailure;
      }
      return undefined;
    } finally {
      if (this.fd >= 0) {
        this.opts.io.close(this.fd);
        this.fd = -1;
      }
      // CLOSED before the descriptors go (both seq-cst): a read that meets a closed descriptor then sees CLOSED
      // and reports the close, not a retired generation (SharedView.lookup).
      Atomics.store(this.ctl32, Ctl32.STATE, DbState.CLOSED);
      const mirror = this.state?.mirror;
      this.framed?.close(mirror instanceof FramedWriter ? mirror : undefined);
    }
  }

  /** Everything but the flush policy's own counters (the flusher is not the engine's: workers/writer.ts adds them). */
  stats(): Omit<StatsSnapshot, 'flushTimeouts'> {
    const index = this.state.index;
    const { count: expiredPending, bytes: expiredBytes } = this.state.expiredPending(this.now());
    return {
      records: index.live - expiredPending,
      // Expired records the sweep has not reached yet are dead already: no read sees them, compaction drops them.
      liveBytes: this.state.liveBytes - expiredBytes,
      deadBytes: this.state.deadBytes + expiredBytes,
      fileBytes: this.lsn.next,
      namespaces: this.state.namespaces.size,
      indexCapacity: index.capacity,
      indexLoad: (index.live + index.deleted) / index.capacity,
      tailHint: this.slots.tailHint,
      durableLsn: this.durableLsn,
      writes: this.writes,
      syncs: this.syncs,
      syncMs: this.syncMs,
      autoCheckpoints: this.autoCheckpoints,
      // A checkpoint that had no slot to write (nothing new since a compaction) may still have saved the snapshot.
      lastCheckpointAt: Math.max(this.slots.checkpointAt, this.snapshotAt),
      lastCompactionAt: this.lastCompactionAt,
      recovery: recoveryStats(this.recovery),
      indexSnapshot: { tail: this.snapshotTail < 0 ? null : this.snapshotTail, error: this.snapshotFailure?.message ?? null },
      sortedIndex: this.state.sorted ? { ...this.state.sorted.stats(), loadedFrom: this.sortedSource ?? 'rebuilt' } : null,
      cache: this.cacheStats(),
      ttl: { deadlines: this.state.deadlines.size, deadlineBytes: this.state.deadlines.bytes, expiredPending, swept: this.swept, maxSweepBatchMs: this.maxSweepMs, lastSweepMs: this.lastSweepMs },
    };
  }
}
