import { randomBytes } from '../crypto/node-crypto.js';
import path from 'node:path';
import { crc32 } from '@node-rs/crc32';
import { EmdbError, ErrorCode, ioError } from '../errors.js';
import { DATA_START, FILE_MAGIC, PRELUDE_SIZE, RECORD, RECORD_FLAG_ENCRYPTED, SLOT_A_OFFSET } from '../format/constants.js';
import { frameSize } from '../format/record.js';
import { LogCrypt, resealUnit } from '../log/log-crypt.js';
import { isOpener } from '../format/seal-opener.js';
import { encodeSuccessorHeader, hasFileMagic } from '../format/header.js';
import { dirOf, mkdirDurable, readFully, writeFully, type FileIO } from '../log/file-io.js';
import type { MirrorView } from '../shm/mirror.js';
import type { LogState } from '../log/log-state.js';
import { snapshotPath } from '../format/snapshot.js';

/**
 * Bytes copied per step; the writer serves queued requests between steps, so a
 * write waits for one chunk (or one sync of the chunks before it) at most.
 */
export const BACKUP_CHUNK_BYTES = 4 << 20;
/** Unsynced bytes after which a step ends with an fdatasync of the temp file. */
const BACKUP_SYNC_BYTES = 32 << 20;

/** What a backup copies: an immutable prefix of a log, as it stood when the backup began. */
export interface BackupSource {
  /** The mirror holding the log; bytes below `end` never change (rule R3), even after a compaction replaced it. */
  mirror: MirrorView;
  end: number;
  /** Prelude bytes of the source (creation time, encryption parameters). */
  prelude: Uint8Array;
  liveKeys: number;
  /** Encrypted database: the source's keys; the backup is sealed again under its own file id. */
  crypt?: LogCrypt;
}

/** What a backup started now copies: the log as it stands at `end` (every applied record). */
export function backupSource(state: LogState, end: number, crypt?: LogCrypt): BackupSource {
  return { mirror: state.mirror, end, prelude: state.mirror.slice(0, PRELUDE_SIZE).slice(), liveKeys: state.index.live, ...(crypt ? { crypt } : {}) };
}

/**
 * The temp file of one backup to `target`: unique per backup, so two backups
 * to one target never write (or rename) each other's file. The lock a backup
 * holds on its target (lockBackupTarget) makes every other such file an orphan
 * of a killed backup, removed by the next backup or open of that path.
 */
export function backupTempPath(target: string): string {
  return `${target}.backup-tmp.${randomBytes(8).toString('hex')}`;
}

/** The single temp name of emdb-js 0.2 and earlier; an orphan of it is removed too. */
function legacyTempPath(target: string): string {
  return `${target}.backup-tmp`;
}

/** True for a temp file name (any backup's) of a backup to `target`. */
export function isBackupTempOf(target: string, candidate: string): boolean {
  return candidate === legacyTempPath(target) || (candidate.startsWith(`${target}.backup-tmp.`) && /\.backup-tmp\.[0-9a-f]{16}$/.test(candidate) && candidate.length === target.length + 28);
}

/** Every file the database at `dbFile` owns or may create next to itself. */
function ownedBy(dbFile: string, candidate: string): boolean {
  const db = path.resolve(dbFile);
  const own = [db, snapshotPath(db), `${snapshotPath(db)}.tmp`, `${db}.compact`, `${db}.creating`, `${db}.lock`];
  return own.includes(candidate) || candidate.startsWith(`${db}.lock.`);
}

/**
 * One backup in progress: the log prefix [DATA_START, end) copied from the
 * mirror into its own `<target>.backup-tmp.<hex>` a chunk per step, then a new header (a new
 * file id, slot A with tail hint `end` and the CRC of the copied bytes), one
 * fdatasync, a rename over `target` and a directory fsync. `target` therefore
 * holds either what it held before or the whole backup, never a part of one.
 * I/O errors concern the backup file only: they fail the backup (ERR_EMDB_IO)
 * and never the database.
 */
export class BackupJob {
  private fd = -1;
  private at = DATA_START;
  private synced = 0;
  private crc = 0;
  private readonly tmp: string;
  private replacesDatabase = false;
  private readonly fileId = randomBytes(16);
  /** Encrypted: the backup's own subkeys (a new file id). */
  private readonly sealer: LogCrypt | undefined;

  private constructor(
    private readonly io: FileIO,
    private readonly source: BackupSource,
    readonly target: string,
  ) {
    this.tmp = backupTempPath(target);
    this.sealer = source.crypt && new LogCrypt(source.crypt.keys, this.fileId);
  }

  /**
   * Validates `target` (absolute) against the database at `dbFile` (null in
   * memory) and opens the temp file. An existing emdb-js database at `target`
   * is replaced atomically at the end; anything else there is refused.
   */
  static start(io: FileIO, source: BackupSource, dbFile: string | null, target: string): BackupJob {
    if (dbFile !== null && (ownedBy(dbFile, target) || isBackupTempOf(target, path.resolve(dbFile)))) {
      throw new EmdbError(ErrorCode.INVALID_CONFIG, `cannot back up the database to ${target}: that is the database's own file or one it uses`);
    }
    if (io.isDirectory(target)) throw new EmdbError(ErrorCode.INVALID_CONFIG, `backup target ${target} is a directory`);
    const job = new BackupJob(io, source, target);
    // Refusals touch nothing, not even an orphan temp file.
    job.replacesDatabase = io.exists(target);
    if (job.replacesDatabase && !job.isDatabase(target)) {
      throw new EmdbError(ErrorCode.INVALID_CONFIG, `backup target ${target} exists and is not an emdb-js database; it is not replaced`);
    }
    try {
      mkdirDurable(io, dirOf(target));
      job.removeOrphans();
      job.fd = io.open(job.tmp, 'wx', dbFile ?? undefined); // the copy takes the database's mode
    } catch (err) {
      job.abort();
      throw err instanceof EmdbError ? err : ioError('backup', err);
    }
    return job;
  }

  /**
   * Temp files of earlier backups to this target that were killed. The caller
   * holds the target's lock (lockBackupTarget), so none of them is live.
   */
  private removeOrphans(): void {
    const { io } = this;
    const dir = dirOf(this.target);
    const names = io.list ? io.list(dir) : [path.basename(legacyTempPath(this.target))];
    for (const name of names) {
      const file = path.join(dir, name);
      if (isBackupTempOf(this.target, file) && io.exists(file)) io.unlink(file);
    }
  }

  /** The temp file this backup writes. */
  get tempPath(): string {
    return this.tmp;
  }

  /** Copies the next chunk; true once every record is in the temp file. */
  step(budget = BACKUP_CHUNK_BYTES): boolean {
    const stop = Math.min(this.source.end, this.at + budget);
    try {
      while (this.at < stop) {
        const chunk = this.sealer ? this.sealedChunk(this.sealer, stop) : this.source.mirror.logBytes(this.at, stop - this.at);
        if (chunk.length === 0) throw new RangeError(`log byte ${this.at} is not in the mirror`);
        writeFully(this.io, this.fd, chunk, 0, chunk.length, this.at);
        this.crc = crc32(chunk, this.crc);
        this.at += chunk.length;
      }
      // Synced as it goes, so no single fdatasync (which the writer waits for) has the whole file to flush.
      if (this.at - this.synced >= BACKUP_SYNC_BYTES || this.at >= this.source.end) {
        this.io.fdatasync(this.fd);
        this.synced = this.at;
      }
    } catch (err) {
      this.abort();
      // A damaged page of the source (a framed log's pages are checked as they are copied) is the database's error, not the backup's I/O.
      throw err instanceof EmdbError && err.code === ErrorCode.CORRUPTION ? err : ioError('backup', err);
    }
    return this.at >= this.source.end;
  }

  /** Header, fdatasync, rename into place, directory fsync. */
  /**
   * The file form of the whole records from `at` up to about `stop`, each
   * sealed again at the same LSN under the backup's subkey: the mirror holds
   * plaintext, which never goes to the backup.
   */
  private sealedChunk(sealer: LogCrypt, stop: number): Uint8Array {
    const parts: Uint8Array[] = [];
    let at = this.at;
    do {
      // A backup reads the whole log: every page was loaded before it started (workers/writer.ts).
      const off = this.source.mirror.residentRecordAt(at);
      const dv = this.source.mirror.recDv;
      const len = frameSize(dv, off);
      const form = this.source.mirror.recU8.slice(off, off + len);
      if (sealer.batch && isOpener(dv, off)) {
        // Scheme 2: the whole unit, sealed again at the same LSN.
        const unit = resealUnit(this.source.mirror, sealer, at);
        parts.push(unit);
        at += unit.length;
        continue;
      }
      if ((form[RECORD.FLAGS]! & RECORD_FLAG_ENCRYPTED) !== 0) {
        const file = new Uint8Array(len);
        sealer.records.seal(form, new DataView(form.buffer), 0, at, file);
        parts.push(file);
      } else {
        parts.push(form);
      }
      at += len;
    } while (at < stop);
    return Buffer.concat(parts);
  }

  finish(): void {
    const { io } = this;
    try {
      const slot = { sequence: 1, tailHint: this.source.end, checkpointAt: Date.now(), liveKeys: this.source.liveKeys, prefixCrc: this.crc };
      const header = encodeSuccessorHeader(this.source.prelude, this.fileId, slot);
      if (this.sealer) header.set(this.sealer.slotBytes(slot), SLOT_A_OFFSET);
      writeFully(io, this.fd, header, 0, header.length, 0);
      io.fdatasync(this.fd);
      io.close(this.fd);
      this.fd = -1;
      // The replaced database's index snapshot names its old file id: useless from now on.
      if (this.replacesDatabase && io.exists(snapshotPath(this.target))) io.unlink(snapshotPath(this.target));
    } catch (err) {
      this.abort();
      // A damaged page of the source (a framed log's pages are checked as they are copied) is the database's error, not the backup's I/O.
      throw err instanceof EmdbError && err.code === ErrorCode.CORRUPTION ? err : ioError('backup', err);
    }
    try {
      io.rename(this.tmp, this.target);
    } catch (err) {
      // The target still holds what it held; the complete temp file is of no use now.
      this.abort();
      throw ioError('backup rename', err);
    }
    try {
      io.fsyncDir(dirOf(this.target));
    } catch (err) {
      // The backup is in place but may not survive a power loss: report it as failed.
      throw ioError('backup rename', err);
    }
  }

  /** Releases the temp file after a failure; quiet, the first error is the one reported. */
  abort(): void {
    try {
      if (this.fd >= 0) this.io.close(this.fd);
    } catch {
      // closing a descriptor we are abandoning
    }
    this.fd = -1;
    try {
      if (this.io.exists(this.tmp)) this.io.unlink(this.tmp);
    } catch {
      // the next backup to this target removes the orphan
    }
  }

  /** Log bytes in the temp file so far (header pages excluded until finish). */
  get copiedBytes(): number {
    return this.at;
  }

  get end(): number {
    return this.source.end;
  }

  private isDatabase(file: string): boolean {
    let fd = -1;
    try {
      fd = this.io.open(file, 'r');
      const head = new Uint8Array(FILE_MAGIC.length);
      return readFully(this.io, fd, head, 0, head.length, 0) === head.length && hasFileMagic(head);
    } catch (err) {
      throw ioError(`reading backup target ${file}`, err);
    } finally {
      if (fd >= 0) this.io.close(fd);
    }
  }
}

/**
 * Runs backups a chunk per turn of the writer's event loop, so the requests
 * that arrive meanwhile (writes, flushes, other threads' buffer requests) are
 * served between chunks: a write waits for one chunk at most.
 */
export class BackupRunner {
  private readonly running = new Map<BackupJob, (error?: unknown) => void>();

  constructor(private readonly defer: (fn: () => void) => void = setImmediate) {}

  run(job: BackupJob, done: (error?: unknown) => void): void {
    this.running.set(job, done);
    this.defer(() => this.tick(job));
  }

  get active(): number {
    return this.running.size;
  }

  /** Completes every running backup now: the database is closing, and an accepted backup is not dropped. */
  drain(): void {
    for (const job of [...this.running.keys()]) {
      try {
        while (!job.step());
      } catch (err) {
        this.settle(job, err);
        continue;
      }
      this.finish(job);
    }
  }

  private tick(job: BackupJob): void {
    if (!this.running.has(job)) return; // drained meanwhile
    try {
      if (!job.step()) {
        this.defer(() => this.tick(job));
        return;
      }
    } catch (err) {
      this.settle(job, err);
      return;
    }
    this.finish(job);
  }

  private finish(job: BackupJob): void {
    try {
      job.finish();
    } catch (err) {
      this.settle(job, err);
      return;
    }
    this.settle(job);
  }

  private settle(job: BackupJob, error?: unknown): void {
    const done = this.running.get(job);
    this.running.delete(job);
    done?.(error);
  }
}
