import { reclaimableBytes } from './compaction-policy.js';
import { crc32 } from '@node-rs/crc32';
import { DATA_START, PRELUDE_SIZE, RECORD, RECORD_CRC_START, RECORD_FLAG_ENCRYPTED, RECORD_FLAG_IN_TX, RecordKind, SEAL_KIND, SLOT_A_OFFSET } from '../format/constants.js';
import { encodeSuccessorHeader } from '../format/header.js';
import { catalogueRecord, frameSize } from '../format/record.js';
import { recordExpiresAt, recordFlags, recordKind } from '../format/record-fields.js';
import type { FileIO } from '../log/file-io.js';
import type { LogCrypt } from '../log/log-crypt.js';
import { LogState } from '../log/log-state.js';
import { IndexWriter } from '../shm/index-table.js';
import { capacityFor, SEGMENT_SPAN } from '../shm/layout.js';
import { MirrorWriter } from '../shm/mirror.js';
import type { StagedLog } from '../shm/staged-log.js';
import { testMutant } from '../mutants.js';
import { placeRecord } from './compactor.js';
import { CompactionFile } from './compaction-file.js';
import { CompactionMoves } from './compaction-moves.js';
import { OldLogWalk } from './old-log-walk.js';
import { toPlainRecord } from '../crypto/record-crypt.js';

/** Bytes of the new log handed to one pwrite: sequential and large, never one syscall per record. */
const WRITE_CHUNK = 2 << 20;
/**
 * The temp file is synced every this many bytes while it is built (on the
 * thread pool when the file system offers it), so the sync inside the swap
 * only covers what was written since: the swap stays short however big the log.
 */
const SYNC_EVERY = 16 << 20;
/** The copy checks its time budget every this many records (performance.now() is not free). */
const CLOCK_EVERY = 64;
/** Index slots the bitmap scan reads between two looks at the clock. */
const SCAN_SLOTS = 32768;
/** Longest run of adjacent records copied with one call. */
const MAX_RUN = 1 << 20;
/** Sealed-unit logs: plaintext gathered before one sealing call (split into units of UNIT_CAP). */
const GATHER_BYTES = 1 << 20;
/** Catch-up left below this many bytes is replayed inside the swap itself. */
export const SWAP_CATCH_UP_BYTES = 1 << 20;

/** CRC changes of clearing the in-transaction flag, by CRC-covered length (most logs have few record sizes). */
const inTxDeltas = new Map<number, number>();
const MAX_CACHED_DELTAS = 4096;

/**
 * What clearing RECORD_FLAG_IN_TX does to the CRC of a record whose CRC covers
 * `len` bytes: CRC32 is affine, crc(a ^ b) = crc(a) ^ crc(b) ^ crc(zeros), so
 * with b zero but for the flag bit, the new CRC is the old one XOR this value,
 * which depends on the length only. Saves a pass over every copied record of a
 * transaction or an insertMany (most of a bulk-loaded log).
 */
function inTxCrcDelta(len: number): number {
  let delta = inTxDeltas.get(len);
  if (delta !== undefined) return delta;
  const bytes = new Uint8Array(len);
  const zeros = crc32(bytes);
  bytes[RECORD.FLAGS - RECORD_CRC_START] = RECORD_FLAG_IN_TX;
  delta = (crc32(bytes) ^ zeros) >>> 0;
  if (inTxDeltas.size < MAX_CACHED_DELTAS) inTxDeltas.set(len, delta);
  return delta;
}

/** What a compaction step reports to whoever schedules it (workers/writer.ts, CompactionRunner). */
export type StepResult = 'more' | 'wait' | 'ready';

/** Sizes of the job's file I/O (tests shrink them to put many I/O calls inside one compaction). */
export interface CompactionTuning {
  /** Bytes handed to one pwrite (default 2 MiB). */
  writeChunk?: number;
  /** The temp file is synced every this many bytes while it is built (default 16 MiB). */
  syncEvery?: number;
}

export interface CompactionSource {
  /** The live log's state: its index says which records are live, its mirror holds them. */
  state: LogState;
  /** The live log's end now (it grows while the job runs). */
  end: () => number;
  /** The database clock: records whose deadline passed by it are not copied. */
  now: () => number;
}

/**
 * An incremental compaction (docs/DESIGN.md, "Compaction"): the live records of
 * the log as it was at the start are copied, in LSN order, into a new mirror
 * and a `.compact` temp file, a time-bounded step at a time; then the records
 * appended meanwhile are replayed into it (catch-up), and the engine swaps it
 * in (WriterEngine.finishCompaction) once little is left to replay.
 *
 * Which records are copied: those the index held at the start (a bitmap of
 * their LSNs, one bit per 16 bytes of log: no record is shorter). A copied
 * record that a later write superseded or removed is copied anyway: the
 * catch-up replays that later write into the new log, with the same effect as
 * on the old one. The catch-up replays every record after the start except the
 * framing (transaction markers, durable marks), and clears the in-transaction
 * flag: a transaction is appended whole, and the new log is synced before it
 * replaces the old one, so its records need no commit marker there. Expired
 * records are dropped in the copy only; a replayed write is kept even when
 * expired, since dropping it could uncover the older value it superseded.
 */
export class CompactionJob {
  readonly state: LogState;
  private readonly mirror: MirrorWriter;
  readonly fileId: Uint8Array;
  /** End of the new log (where the next record goes). */
  end = DATA_START;
  kept = 0;
  private readonly live: Int32Array;
  /**
   * The index the bitmap is being filled from, and its next slot (-1: done).
   * The scan runs in steps too, while writes change the table: an entry
   * superseded or removed before its slot is read is one the catch-up replays
   * anyway, and one that stays live is read whenever its slot is. A table
   * replaced meanwhile (grown or purged: entries move) is scanned again from
   * slot 0; bits are only ever added, and only for records below the start.
   */
  private scanned: IndexWriter;
  private scanSlot = 0;
  private readonly mark = (lsn: number): void => {
    if (lsn >= this.start) return;
    const bit = Math.floor(lsn / 16);
    this.live[Math.floor(bit / 32)]! |= 1 << (bit & 31);
  };
  /** Adjacent live records of the old log [runFrom, runFrom + runLen) waiting to be copied together. */
  private runFrom = 0;
  private runLen = 0;
  /** Where the old mirror's view holding the run starts (an LSN): a run never leaves the view of its first record. */
  private runBase = 0;
  /** Old LSN where the copy walk is; at `start`, the walk is over and the catch-up replays from `replayed`. */
  private walk = DATA_START;
  private readonly start: number;
  private replayed: number;
  /** Encrypted logs: file forms of records not yet written (they differ from the mirror's). */
  /** File forms placed but not yet written (encrypted: they differ from the mirror form), gathered in one reused buffer. */
  private pending = new Uint8Array(0);
  private pendingBytes = 0;
  /** Sealed-unit logs: plaintext records placed but not yet sealed (their LSNs follow the units before them). */
  /** Plaintext records gathered for the next seal, in one reused buffer ([0, gatheredBytes)). */
  private gathered = new Uint8Array(0);
  /** The old LSN of each gathered record (-1: a new catalogue record), for the moves. */
  private gatheredFrom: number[] = [];
  private gatheredBytes = 0;
  private readonly prelude: Uint8Array;
  private readonly writeChunk: number;
  private readonly syncEvery: number;
  readonly deadBefore: number;
  readonly bytesBefore: number;
  readonly started = Date.now();
  private readonly out: CompactionFile;
  private readonly staged: StagedLog | undefined;
  /** The old log's records below `start`, as the walk and copyRun read them. */
  private readonly src: OldLogWalk;
  /** Where the old log's records went, kept for relocating the sorted index when the new log is staged (no mirror to compare keys in). */
  readonly moves: CompactionMoves | undefined;

  constructor(
    private readonly source: CompactionSource,
    io: FileIO | undefined,
    /** The temp file's descriptor (-1: in-memory database, no file). */
    fd: number,
    fileId: Uint8Array,
    /** Encrypted logs: the new file's keys (its file id is a new subkey). */
    readonly crypt?: LogCrypt,
    tuning: CompactionTuning = {},
    /** The new log held as the unwritten part only (a database read through the page cache); else a whole mirror. */
    staged?: StagedLog,
  ) {
    this.out = new CompactionFile(io, fd);
    this.writeChunk = tuning.writeChunk ?? WRITE_CHUNK;
    this.syncEvery = tuning.syncEvery ?? SYNC_EVERY;
    const old = source.state;
    this.fileId = fileId;
    this.prelude = old.mirror.slice(0, PRELUDE_SIZE).slice();
    // Expired records not yet swept are dropped too (they are not copied): part of what the report says it dropped.
    this.deadBefore = reclaimableBytes(old, source.now());
    this.start = this.bytesBefore = source.end();
    this.replayed = this.start;
    this.src = new OldLogWalk(() => this.source.state.mirror, this.start);
    const mirror = staged ?? new MirrorWriter(MirrorWriter.create(Math.min(DATA_START + old.liveBytes + (1 << 20), SEGMENT_SPAN)));
    this.mirror = mirror;
    this.staged = staged;
    this.moves = staged && old.sorted ? new CompactionMoves() : undefined;
    this.state = new LogState(IndexWriter.allocate(capacityFor(old.index.live + 1)), mirror);
    this.state.now = source.now;
    mirror.reserve(0, DATA_START);
    // 32-bit words, bit (lsn >> 4): a record header is 32 bytes, so two records never share a bit.
    this.live = new Int32Array(Math.ceil(this.start / 16 / 32) + 1);
    this.scanned = old.index;
    // The catalogue as it is now; namespaces created or dropped later come with the catch-up.
    for (const [id, name] of old.namespaces) this.place(catalogueRecord(RecordKind.NS_CREATE, id, name, old.nsEncodings.get(id) ?? 0));
  }

  /**
   * Copies and replays until `deadline` (performance.now()), then writes what
   * it placed. 'ready': little enough is left for the swap; 'wait': a sync of
   * the temp file runs on the thread pool and must end before the swap.
   */
  step(deadline: number): StepResult {
    this.out.throwIfFailed();
    while (this.scanSlot >= 0) {
      const index = this.source.state.index;
      if (index !== this.scanned) {
        this.scanned = index;
        this.scanSlot = 0;
      }
      const to = this.scanSlot + SCAN_SLOTS;
      index.forEachLive(this.mark, this.scanSlot, to);
      this.scanSlot = to >= index.capacity ? -1 : to;
      if (performance.now() >= deadline) return 'more';
    }
    const now = this.source.now();
    let n = 0;
    while (this.walk < this.start) {
      const lsn = this.walk;
      // A run is copied out of the window it was found in: before the window moves.
      if (!this.src.inWindow(lsn)) {
        this.copyRun();
        this.src.moveWindow(lsn);
      }
      const off = this.src.at(lsn);
      // Locals: copyRun below resolves the run's first record.
      const u8 = this.src.u8;
      const dv = this.src.dv;
      const size = frameSize(dv, off);
      this.walk += size;
      const bit = Math.floor(lsn / 16);
      if ((this.live[Math.floor(bit / 32)]! & (1 << (bit & 31))) !== 0) {
        const expires = recordExpiresAt(dv, off);
        if (expires === 0 || expires > now) {
          this.kept++;
          // Plain records extend the run of adjacent ones, copied with one call; others go one by one.
          const plain = !this.crypt && (recordFlags(dv, off) & RECORD_FLAG_ENCRYPTED) === 0;
          if (plain && this.runLen > 0 && this.runFrom + this.runLen === lsn && lsn - off === this.runBase && this.runLen < MAX_RUN) this.runLen += size;
          else {
            this.copyRun();
            if (plain) {
              this.runFrom = lsn;
              this.runLen = size;
              this.runBase = lsn - off;
            } else this.place(u8.subarray(off, off + size), lsn);
          }
        }
      }
      if ((++n & (CLOCK_EVERY - 1)) === 0) {
        this.copyRun();
        this.flushOut(false);
        if (performance.now() >= deadline) return 'more';
      }
    }
    this.copyRun();
    n = 0;
    const end = this.source.end();
    while (this.replayed < end) {
      this.replayOne();
      if ((++n & (CLOCK_EVERY - 1)) === 0) {
        this.flushOut(false);
        if (performance.now() >= deadline) return 'more';
      }
    }
    this.flushOut(false);
    if (this.out.syncRunning) return 'wait';
    if (this.source.end() - this.replayed > SWAP_CATCH_UP_BYTES) return 'more';
    // Sync the bulk on the thread pool first, so the swap's own sync is short.
    if (this.out.unsynced > SWAP_CATCH_UP_BYTES && this.out.startAsyncSync()) return 'wait';
    return 'ready';
  }

  /** Waits for the running thread-pool sync, if any (the runner resumes stepping after it). */
  waitForSync(): Promise<void> {
    return this.out.waitForSync();
  }

  /**
   * The swap's part of the job (the engine then renames and switches): replays
   * the rest, writes the header (slot A: tail = the new end, prefix CRC over
   * it), syncs and closes the temp file. Synchronous: no write can come in between.
   */
  complete(): void {
    this.out.throwIfFailed();
    while (this.scanSlot >= 0 || this.walk < this.start) this.step(Infinity);
    const end = this.source.end();
    while (this.replayed < end) this.replayOne();
    // Ids of dropped namespaces are never handed out again.
    this.state.nextNamespaceId = Math.max(this.state.nextNamespaceId, this.source.state.nextNamespaceId);
    this.flushOut(true);
    const now = this.source.now();
    const slot = { sequence: 1, tailHint: this.end, checkpointAt: now, liveKeys: this.state.index.live, prefixCrc: this.prefixCrc };
    const header = encodeSuccessorHeader(this.prelude, this.fileId, slot);
    if (this.crypt) header.set(this.crypt.slotBytes(slot), SLOT_A_OFFSET);
    this.mirror.write(0, header);
    this.out.finish(header);
  }

  /** CRC32 of the new log's bytes [DATA_START, end) as written to the file (slot A's prefix CRC). */
  get prefixCrc(): number {
    return this.out.crc;
  }

  /** Gives up: closes the temp file (after a running sync) and leaves its removal to the caller. */
  abort(): void {
    this.out.close();
    this.staged?.close();
  }

  /** The swap has framed the new log: the staged one's read descriptor is closed. */
  closeStaged(): void {
    this.staged?.close();
  }

  /**
   * Boundary CRCs of the new log as written (entry p: the CRC of the log
   * before page p), for checking its pages once it is read through the page
   * cache; undefined for an encrypted log (its file bytes are not its mirror's).
   */
  get pages(): number[] | undefined {
    return this.crypt ? undefined : this.out.pages;
  }

  /** Copies the pending run of adjacent live records of the old log and applies each. */
  private copyRun(): void {
    const len = this.runLen;
    if (len === 0) return;
    this.runLen = 0;
    const from = this.end;
    const at = this.src.at(this.runFrom);
    this.mirror.reserve(from, len);
    this.mirror.write(from, this.src.u8.subarray(at, at + len));
    this.moves?.add(this.runFrom, from, len);
    this.end += len;
    const mirror = this.mirror;
    for (let lsn = from; lsn < this.end; ) {
      const off = mirror.residentRecordAt(lsn);
      const dv = mirror.recDv;
      const size = frameSize(dv, off);
      const flags = recordFlags(dv, off);
      // Out of its transaction: the flag is cleared in place (the new mirror is nobody else's yet) and the CRC resealed.
      if ((flags & RECORD_FLAG_IN_TX) !== 0) {
        dv.setUint8(off + RECORD.FLAGS, flags & ~RECORD_FLAG_IN_TX);
        dv.setUint32(off + RECORD.CRC, (dv.getUint32(off + RECORD.CRC, true) ^ inTxCrcDelta(size - RECORD_CRC_START)) >>> 0, true);
        mirror.rewritten(lsn, size);
      }
      this.state.apply(lsn);
      lsn += size;
    }
  }

  private replayOne(): void {
    const old = this.source.state.mirror;
    const lsn = this.replayed;
    // Appended since the job started: past the lazy range (L4).
    const off = old.residentRecordAt(lsn);
    const dv = old.recDv;
    const size = frameSize(dv, off);
    this.replayed += size;
    const kind = recordKind(dv, off);
    // A unit's opener is not a record of its own: its records follow it in plaintext (mirror form) and are replayed one by one.
    if (kind === RecordKind.TX_BEGIN || kind === RecordKind.TX_COMMIT || kind === RecordKind.DURABLE_MARK || kind === SEAL_KIND || testMutant.name === 'compaction-no-catch-up') return;
    this.place(old.recU8.subarray(off, off + size), lsn);
  }

  /** Appends one record (a view of the old log's record at `from`, or a new catalogue record: -1) to the new log and applies it. */
  private place(view: Uint8Array, from = -1): void {
    const flags = view[RECORD.FLAGS]!;
    if (this.crypt?.batch) {
      // Sealed units (scheme 2): plaintext records gathered (a scheme 1 one made plaintext first), then sealed many per
      // AEAD call (sealGathered); out of its transaction, the flag is cleared in the gathered copy.
      const at = this.gatheredBytes;
      this.gather((flags & RECORD_FLAG_ENCRYPTED) !== 0 ? toPlainRecord(view) : view);
      if ((flags & RECORD_FLAG_IN_TX) !== 0) {
        const copy = this.gathered.subarray(at, this.gatheredBytes);
        copy[RECORD.FLAGS] = copy[RECORD.FLAGS]! & ~RECORD_FLAG_IN_TX;
        new DataView(copy.buffer, copy.byteOffset, copy.length).setUint32(RECORD.CRC, crc32(copy.subarray(RECORD_CRC_START)), true);
      }
      this.gatheredFrom.push(from);
      if (this.gatheredBytes >= GATHER_BYTES) this.sealGathered();
      return;
    }
    let bytes = view;
    if ((flags & RECORD_FLAG_IN_TX) !== 0) {
      bytes = view.slice();
      const dv = new DataView(bytes.buffer, 0, bytes.length);
      dv.setUint8(RECORD.FLAGS, flags & ~RECORD_FLAG_IN_TX);
      dv.setUint32(RECORD.CRC, crc32(bytes.subarray(RECORD_CRC_START)), true);
    }
    const placed = placeRecord(bytes, this.end, this.crypt);
    if (from >= 0) this.moves?.add(from, this.end, placed.mirror.length);
    this.mirror.reserve(this.end, placed.mirror.length);
    this.mirror.write(this.end, placed.mirror);
    if (placed.file !== placed.mirror) {
      this.addPending(placed.file);
    }
    this.state.apply(this.end);
    this.end += placed.mirror.length;
  }

  /**
   * Seals the gathered plaintext records at the new log's end (units and their
   * openers, crypto/batch-crypt.ts) and places them record by record, so each
   * sits whole in the mirror segment it starts in; openers apply as nothing.
   */
  private sealGathered(): void {
    if (this.gatheredBytes === 0) return;
    // Reused outputs: the file form is copied into the pending run and the mirror form into the new log below.
    const sealed = this.crypt!.batch!.encryptBatch(this.gathered.subarray(0, this.gatheredBytes), this.end, true);
    const froms = this.gatheredFrom;
    this.gatheredFrom = [];
    this.gatheredBytes = 0;
    this.addPending(sealed.file);
    const bytes = sealed.mirror;
    this.staged?.noteSealed(this.end, bytes);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let record = 0;
    for (let off = 0; off < bytes.length; ) {
      const size = frameSize(dv, off);
      // Openers are the new log's own; the records follow in the order they were gathered.
      if (recordKind(dv, off) !== SEAL_KIND) {
        const from = froms[record++]!;
        if (from >= 0) this.moves?.add(from, this.end, size);
      }
      this.mirror.reserve(this.end, size);
      this.mirror.write(this.end, bytes.subarray(off, off + size));
      this.state.apply(this.end);
      this.end += size;
      off += size;
    }
  }

  /** Appends a plaintext record to the gathered run (a copy: `bytes` may be a view of the old log). */
  private gather(bytes: Uint8Array): void {
    const need = this.gatheredBytes + bytes.length;
    if (need > this.gathered.length) {
      const grown = new Uint8Array(Math.max(need, this.gathered.length * 2, GATHER_BYTES + (1 << 16)));
      grown.set(this.gathered.subarray(0, this.gatheredBytes));
      this.gathered = grown;
    }
    this.gathered.set(bytes, this.gatheredBytes);
    this.gatheredBytes = need;
  }

  /** Writes placed bytes to the temp file in large runs (`all`: whatever is left, however little). */
  private flushOut(all: boolean): void {
    if (all) this.sealGathered();
    const out = this.out;
    if (this.end - out.written < (all ? 1 : this.writeChunk)) return;
    if (this.crypt) this.writePending();
    else while (out.written < this.end) out.write(this.mirror.logBytes(out.written, Math.min(this.end - out.written, this.writeChunk)));
    this.staged?.flushed(out.written);
    if (out.unsynced >= this.syncEvery && !out.syncRunning && !out.startAsyncSync()) out.syncNow();
  }

  private writePending(): void {
    if (this.pendingBytes === 0) return;
    this.out.write(this.pending.subarray(0, this.pendingBytes));
    this.pendingBytes = 0;
  }

  /** Copies a file form into the pending run (one buffer reused across runs: a buffer per run was freed only by a later GC). */
  private addPending(bytes: Uint8Array): void {
    const need = this.pendingBytes + bytes.length;
    if (need > this.pending.length) {
      const grown = new Uint8Array(Math.max(need, this.pending.length * 2, 1 << 20));
      grown.set(this.pending.subarray(0, this.pendingBytes));
      this.pending = grown;
    }
    this.pending.set(bytes, this.pendingBytes);
    this.pendingBytes = need;
  }

}
