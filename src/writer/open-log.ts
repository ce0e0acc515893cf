import { randomBytes } from '../crypto/node-crypto.js';
import { EmdbError, ErrorCode } from '../errors.js';
import { DATA_START, ENCODING_ID, ENCODING_NOT_RECORDED, MAX_RECORD_KIND, MAX_RECORD_KIND_V2, SEAL_KIND, V3 } from '../format/constants.js';
import { assertWholeHeader, chooseSlot, decodePrelude, encodeNewHeader, encodingNameOf, isEncrypted, type ChosenSlot, type Prelude } from '../format/header.js';
import { dirOf, mkdirDurable, readFully, writeFully, type FileIO } from '../log/file-io.js';
import { logCrc, startPages } from '../log/prefix-crc.js';
import { canOpenLazily, canOpenSealedLazily, lazyOpenMinBytes, openLazily } from './lazy-open.js';
import { loadMirror, replayLog, type RecoveryMode, type RecoveryResult } from '../log/recovery.js';
import type { ValueEncoding } from '../types.js';
import type { FlushPolicy, RecoveryStats } from '../types.js';
import { IndexWriter } from '../shm/index-table.js';
import { capacityFor, SEGMENT_SPAN } from '../shm/layout.js';
import { MirrorWriter } from '../shm/mirror.js';
import { WindowedLog } from '../shm/windowed-log.js';
import { CIPHER_ID } from '../crypto/aead.js';
import { LogState } from '../log/log-state.js';
import { readSnapshot } from './snapshot.js';
import { rekeyPath } from './reencrypt.js';
import { DbKeys, type EncryptionSpec } from '../crypto/keys.js';
import { encodeNewEncryptedHeader } from '../log/header-crypt.js';
import { decryptPrefix, fusedPrefix, LogCrypt, ReplayCrypt } from '../log/log-crypt.js';
import type { SnapshotHeader } from '../format/snapshot.js';
import type { SnapshotSealer } from '../crypto/snapshot-crypt.js';
import type { PrefetchedSnapshot } from '../protocol.js';

/** How an open went (`stats().recovery`, and the reliability suites). */
export interface OpenReport extends RecoveryResult {
  /** 'snapshot': the index snapshot held [DATA_START, from); 'full': every record was replayed. */
  mode: 'snapshot' | 'full';
  /** LSN the record walk started at. */
  from: number;
  /** The slot's prefix CRC matched, so records before the tail hint skipped their own CRC. */
  prefixVerified: boolean;
  /** Pages of the log left on disk at open, loaded and checked when first read (0: the whole log was read). */
  lazyPages?: number;
  durationMs: number;
}

export interface OpenedLog {
  fd: number;
  prelude: Prelude;
  slot: ChosenSlot;
  state: LogState;
  report: OpenReport;
  /** The CRC of the log bytes [DATA_START, prefix.lsn), as far as open hashed them, and at each page boundary before it (plaintext). */
  prefix: { lsn: number; crc: number; pages?: number[] };
  /** Tail covered by the snapshot on disk when it was used, else -1. */
  snapshotTail: number;
  /** The snapshot used lets a later open of the same log be lazy: it has page CRCs, or the unit directory of a sealed log. */
  snapshotLazy: boolean;
  /** Encrypted files: keys and file subkeys. */
  crypt?: LogCrypt;
}

/** What the open asks of the file beyond the flush policy. */
export interface OpenRules {
  /** The database's value encoding: recorded in a new file, compared with a recorded one. */
  valueEncoding: ValueEncoding;
  /** Accept any recorded encoding (the command line's raw open); a new file still records valueEncoding. */
  anyEncoding?: boolean;
  recovery: RecoveryMode;
  /** Encryption asked for by the opener: used at creation, checked against the file otherwise. */
  encryption?: EncryptionSpec;
  /** Called with the state about to be replayed and the snapshot it came from (the sorted index attaches here; `sealer` opens its section in an encrypted file). */
  beforeReplay?: (state: LogState, snapshot: SnapshotHeader | undefined, sealer: SnapshotSealer | undefined) => void;
  /**
   * A log larger than this will be read through the page cache once open: a
   * plaintext one that cannot open lazily is replayed through a window of the
   * file (shm/windowed-log.ts) rather than loaded whole; the caller frames it
   * and closes the window (LogWriter.useFrames). Unset: never.
   */
  streamAbove?: number;
  /** The snapshot's table as the opener read it (core/snapshot-prefetch.ts): readSnapshot uses it if the header matches. */
  prefetched?: PrefetchedSnapshot;
}

export const DEFAULT_OPEN_RULES: OpenRules = { valueEncoding: 'binary', recovery: 'strict' };

/** The ENCODING_ID name of a recorded code, for messages. */
function encodingName(code: number): string {
  return encodingNameOf(code) ?? `unknown encoding ${code}`;
}

/**
 * Refuses an open whose valueEncoding differs from the one recorded at creation
 * (format 3): reading binary values as JSON would fail on every get, or worse,
 * succeed on some. Files that recorded none (versions 1, 2) are accepted.
 */
export function checkEncoding(recorded: number, requested: ValueEncoding, what: string): void {
  if (recorded === ENCODING_NOT_RECORDED || recorded === ENCODING_ID[requested]) return;
  throw new EmdbError(
    ErrorCode.INVALID_CONFIG,
    `${what} was created with valueEncoding '${encodingName(recorded)}' and cannot be opened with valueEncoding '${requested}'`,
  );
}

/** What stats() reports about the open (an in-memory database replayed nothing). */
export function recoveryStats(report: OpenReport | undefined): RecoveryStats {
  return {
    mode: report?.mode ?? 'full',
    recordsReplayed: report?.records ?? 0,
    replayedFrom: report?.from ?? DATA_START,
    prefixVerified: report?.prefixVerified ?? false,
    durationMs: report?.durationMs ?? 0,
    truncatedBytes: report?.truncatedBytes ?? 0,
    droppedRecords: report?.droppedRecords ?? 0,
    residueAt: report?.residueAt ?? null,
    residueReason: report?.residueReason ?? null,
    salvaged: report?.salvagedAt !== undefined,
    corruptionAt: report?.salvagedAt ?? null,
    lazyPages: report?.lazyPages ?? 0,
  };
}

/** The state of a new in-memory database: its header pages in the mirror, no records. */
export function newInMemoryLog(valueEncoding: ValueEncoding = 'binary'): LogState {
  const state = newLogState(newMirror(1 << 20), 1 << 20, 0);
  state.mirror.reserve(0, DATA_START);
  state.mirror.write(0, encodeNewHeader(Date.now(), randomBytes(16), ENCODING_ID[valueEncoding]));
  return state;
}

/** A fresh state whose index is sized for the log it is about to replay. */
export function newLogState(mirror: MirrorWriter, logBytes: number, keysHint: number): LogState {
  return new LogState(IndexWriter.allocate(capacityFor(Math.max(keysHint, logBytes / 256))), mirror);
}

export function newMirror(logBytes: number): MirrorWriter {
  return new MirrorWriter(MirrorWriter.create(Math.min(logBytes + (1 << 20), SEGMENT_SPAN)));
}

/**
 * Opens (creating if needed) the log at `file`, loads it into a new mirror and
 * rebuilds the state: from the index snapshot plus the records after it when
 * the snapshot matches the log, else by replaying every record. Crash residue
 * after the last good record is cut. Throws before writing anything when the
 * file is not ours or is corrupt before its tail hint; the caller closes `fd`
 * (via `onFd`) in that case.
 */
export function openLog(
  io: FileIO,
  file: string,
  flushPolicy: FlushPolicy,
  onFd: (fd: number) => void,
  rules: OpenRules = DEFAULT_OPEN_RULES,
): OpenedLog {
  if (io.isDirectory(file)) throw new EmdbError(ErrorCode.INVALID_CONFIG, `${file} is a directory, not a database file`);
  // A new encrypted file hands its keys on: the passphrase is derived once, not again to open it.
  const created = io.exists(file) ? undefined : createLog(io, file, ENCODING_ID[rules.valueEncoding], rules.encryption);
  // A compaction that crashed before its rename left this behind; the log is intact.
  if (io.exists(`${file}.compact`)) io.unlink(`${file}.compact`);
  // Same for an encryption rewrite (Emdb.enableEncryption and friends) that crashed before its rename.
  if (io.exists(rekeyPath(file))) io.unlink(rekeyPath(file));
  const fd = io.open(file, flushPolicy.kind === 'writeThrough' ? 'r+dsync' : 'r+');
  onFd(fd);
  const size = io.size(fd);
  const header = new Uint8Array(DATA_START);
  const got = readFully(io, fd, header, 0, DATA_START, 0);
  // Validate before touching anything: a foreign or future file is left byte-identical.
  assertWholeHeader(header, got, file);
  const prelude = decodePrelude(header);
  // The key check first: a wrong key is reported as such whatever valueEncoding the open asked for, and the
  // recorded encoding (prelude byte 136, under the key check's associated data) is only believed once authenticated.
  const crypt = openCrypt(prelude, rules.encryption, created);
  if (!rules.anyEncoding) checkEncoding(prelude.valueEncoding, rules.valueEncoding, 'the database');
  const slot = chooseSlot(header, prelude.version, crypt?.acceptSlot);
  if (slot.tailHint > size) {
    throw new EmdbError(ErrorCode.CORRUPTION, `log is shorter (${size} bytes) than its checkpointed tail (${slot.tailHint})`, { offset: size });
  }
  const started = performance.now();
  const snapshot = readSnapshot(io, file, prelude.fileId, slot.tailHint, crypt?.snapshot, rules.prefetched);
  const lazyMin = io.sharedDescriptors === true ? lazyOpenMinBytes() : Infinity;
  if (canOpenLazily(snapshot, slot, size, rules.recovery === 'strict', crypt !== undefined, lazyMin)) {
    const mirror = newMirror(Math.max(size, DATA_START));
    const prefix = openLazily(io, file, fd, mirror, header, size, slot, snapshot);
    if (prefix) {
      const state = snapshot.state(mirror);
      rules.beforeReplay?.(state, snapshot.header, undefined);
      const tail = snapshot.header.tail;
      // Only the records after the snapshot are walked (a crash left some): the bytes up to the tail hint were
      // matched by the slot's prefix CRC, those after it are checked one by one, and residue is cut as below.
      const recovery = replayLog(state, size, slot.tailHint, { from: tail, verifiedTo: slot.tailHint }, { maxKind: prelude.version >= V3 ? MAX_RECORD_KIND : MAX_RECORD_KIND_V2, mode: 'strict' });
      if (recovery.end < size) io.ftruncate(fd, recovery.end);
      if (size > tail) io.fdatasync(fd);
      return {
        fd,
        prelude,
        slot,
        state,
        report: { ...recovery, mode: 'snapshot', from: tail, prefixVerified: slot.tailHint > tail, lazyPages: mirror.pages?.pages ?? 0, durationMs: performance.now() - started },
        prefix,
        snapshotTail: tail,
        snapshotLazy: true,
      };
    }
  }
  // An encrypted log is replayed through the window when sealed in units (scheme 2: the page cache reads those).
  if (rules.streamAbove !== undefined && size > rules.streamAbove && (!crypt || crypt.batch)) {
    const seal = crypt && { cipher: CIPHER_ID[crypt.records.keys.cipher], key: crypt.records.keys.records };
    const windowOf = (units?: { items: Float64Array; tail: number }): WindowedLog =>
      new WindowedLog(io.open(file, 'r'), (f, buf, off, len, pos) => io.read(f, buf, off, len, pos), size, (f) => io.close(f), seal && { ...seal, ...(units ? { units } : {}) });
    // Encrypted, with the unit directory in the snapshot: nothing before the snapshot's tail is read (a lazy open).
    if (seal && canOpenSealedLazily(snapshot, slot, size, rules.recovery === 'strict', lazyMin)) {
      const windowed = windowOf({ items: snapshot.units.items, tail: snapshot.header.tail });
      try {
        const opened = replayWhole(io, fd, windowed, size, prelude, slot, snapshot, crypt, rules, started, true);
        if (opened) return opened;
      } catch (err) {
        windowed.close();
        throw err;
      }
      // The snapshot does not chain to the slot: read and check the whole log as below.
      windowed.close();
    }
    const windowed = windowOf();
    try {
      return replayWhole(io, fd, windowed, size, prelude, slot, snapshot, crypt, rules, started)!;
    } catch (err) {
      windowed.close();
      throw err;
    }
  }
  const mirror = newMirror(Math.max(size, DATA_START));
  loadMirror(mirror, io, fd, size);
  return replayWhole(io, fd, mirror, size, prelude, slot, snapshot, crypt, rules, started)!;
}

/**
 * The open of a log that is not opened lazily: its bytes are in `mirror` (the
 * whole file, or a window sliding along it), checked by a CRC pass and
 * replayed from the snapshot's tail when the snapshot matches them, else from
 * the start. Residue after the last good record is cut.
 */
function replayWhole(
  io: FileIO,
  fd: number,
  mirror: MirrorWriter,
  size: number,
  prelude: Prelude,
  slot: ReturnType<typeof chooseSlot>,
  snapshot: ReturnType<typeof readSnapshot>,
  crypt: LogCrypt | undefined,
  rules: OpenRules,
  started: number,
  lazySealed = false,
): OpenedLog | undefined {
  // One streaming CRC pass: up to the snapshot's tail (does the snapshot describe
  // these bytes?), then on to the tail hint (are the checkpointed bytes intact?).
  // lazySealed (canOpenSealedLazily): the snapshot's prefix is taken as it says, only [tail, tail hint) is
  // hashed, and undefined is returned when that does not continue to the slot's CRC.
  const snapTail = snapshot?.header.tail ?? DATA_START;
  // Encrypted (scheme 2) with a snapshot: CRC and decryption of its prefix in one pass; on a mismatch, reread and check as below.
  // Through a window nothing before the replay is decrypted: the frames decrypt what is read, unit by unit (sealed-file.ts).
  const windowed = mirror instanceof WindowedLog;
  const fused = crypt?.batch && snapshot && !windowed ? fusedPrefix(mirror, crypt, DATA_START, snapTail, snapshot.header.prefixCrc) : undefined;
  if (fused === false) loadMirror(mirror, io, fd, size);
  // Plaintext: the CRC at every page boundary is recorded on the way, for the next snapshot's page CRCs.
  const pages = fused || lazySealed ? undefined : startPages();
  const crcAtSnap = fused || lazySealed ? snapshot!.header.prefixCrc : logCrc(mirror, DATA_START, snapTail, 0, pages);
  const useSnapshot = snapshot !== undefined && crcAtSnap === snapshot.header.prefixCrc;
  let prefix: OpenedLog['prefix'] = { lsn: snapTail, crc: crcAtSnap, ...(pages ? { pages } : {}) };
  let prefixVerified = false;
  if (slot.prefixCrc !== undefined) {
    prefix = { lsn: slot.tailHint, crc: logCrc(mirror, snapTail, slot.tailHint, crcAtSnap, pages), ...(pages ? { pages } : {}) };
    // A mismatch means damage before the tail hint: the per-record walk finds and reports it.
    prefixVerified = prefix.crc === slot.prefixCrc && slot.tailHint > DATA_START;
  }
  if (lazySealed && !prefixVerified) return undefined;

  const state = useSnapshot ? snapshot.state(mirror) : newLogState(mirror, Math.max(size, DATA_START), slot.liveKeys);
  // The records the snapshot stands for are not walked: decrypt them into the mirror now, after the CRC passes above.
  if (crypt && useSnapshot && !fused && !windowed) decryptPrefix(mirror, crypt, DATA_START, snapTail);
  const from = useSnapshot ? snapTail : DATA_START;
  // Encrypted: every record is decrypted once, here, into the mirror; the prefix CRC goes on over the file bytes.
  const replayCrypt = crypt ? new ReplayCrypt(crypt, prefix) : undefined;
  rules.beforeReplay?.(state, useSnapshot ? snapshot.header : undefined, crypt?.snapshot);
  const recovery = replayLog(
    state,
    size,
    slot.tailHint,
    { from, verifiedTo: prefixVerified ? slot.tailHint : DATA_START },
    { maxKind: crypt?.batch ? SEAL_KIND : prelude.version >= V3 ? MAX_RECORD_KIND : MAX_RECORD_KIND_V2, mode: rules.recovery, crypt: replayCrypt },
  );
  // The walk may have checked (and fed) records past the end it kept: a transaction without its commit.
  if (replayCrypt) prefix = { lsn: recovery.end, crc: replayCrypt.prefix.upTo(mirror, recovery.end) };
  if (recovery.end < size) {
    // Crash residue (or salvaged damage) after the last good record: cut it so appends start clean.
    io.ftruncate(fd, recovery.end);
  }
  // What we read may still sit only in the page cache of a crashed run.
  io.fdatasync(fd);
  return {
    fd,
    prelude,
    slot,
    state,
    report: {
      ...recovery,
      mode: useSnapshot ? 'snapshot' : 'full',
      from,
      // As for a lazy plaintext open: the bytes before the snapshot's tail were not read, so not verified here.
      prefixVerified: lazySealed ? slot.tailHint > snapTail : prefixVerified,
      ...(lazySealed ? { lazyPages: snapshot!.units!.items.length } : {}),
      durationMs: performance.now() - started,
    },
    prefix,
    snapshotTail: useSnapshot ? snapTail : -1,
    snapshotLazy: useSnapshot && (snapshot.pages !== undefined || snapshot.units !== undefined),
    crypt,
  };
}

/**
 * The keys of an encrypted file (checked by the key check value before any
 * record is read), undefined for a plaintext one. A mode mismatch is a
 * configuration error: nothing is derived, nothing is written.
 */
function openCrypt(prelude: Prelude, spec: EncryptionSpec | undefined, created: DbKeys | undefined): LogCrypt | undefined {
  if (!isEncrypted(prelude)) {
    if (spec) throw new EmdbError(ErrorCode.INVALID_CONFIG, 'the database is not encrypted but the open asked for encryption (use Emdb.enableEncryption to encrypt it)');
    return undefined;
  }
  if (!spec) throw new EmdbError(ErrorCode.INVALID_CONFIG, 'the database is encrypted: open it with the encryption option (key or passphrase)');
  if (prelude.version < V3) throw new EmdbError(ErrorCode.UNSUPPORTED_VERSION, `encrypted files of format version ${prelude.version} are not supported`);
  const keys = created ?? DbKeys.fromPrelude(prelude.bytes, spec);
  return new LogCrypt(keys, prelude.fileId);
}

/** Atomic creation: temp file, fsync, rename, directory fsync (FORMAT.md assumptions). */
function createLog(io: FileIO, file: string, valueEncoding: number, encryption: EncryptionSpec | undefined): DbKeys | undefined {
  // The key derivation (Argon2id for a passphrase) runs before any file exists.
  const sealed = encryption ? encodeNewEncryptedHeader(Date.now(), randomBytes(16), valueEncoding, encryption) : undefined;
  const header = sealed ? sealed.header : encodeNewHeader(Date.now(), randomBytes(16), valueEncoding);
  const dir = dirOf(file);
  mkdirDurable(io, dir);
  const tmp = `${file}.creating`;
  if (io.exists(tmp)) io.unlink(tmp); // orphan of a crashed creation; never a database yet
  const fd = io.open(tmp, 'wx');
  try {
    writeFully(io, fd, header, 0, header.length, 0);
    io.fdatasync(fd);
  } finally {
    io.close(fd);
  }
  io.rename(tmp, file);
  io.fsyncDir(dir);
  return sealed?.keys;
}
