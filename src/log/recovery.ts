import { EmdbError, ErrorCode } from '../errors.js';
import {
  DATA_START,
  MAX_RECORD_KIND,
  RECORD_FLAG_BATCH_SEALED,
  RECORD_FLAG_ENCRYPTED,
  RECORD_FLAG_IN_TX,
  RECORD_HEADER_SIZE,
  RecordKind,
  SEAL_KIND,
  TX_BEGIN_VALUE_SIZE,
  TX_COMMIT_VALUE_SIZE,
} from '../format/constants.js';
import { checkRecord, faultName, frameSize, RecordFault } from '../format/record.js';
import { damageIsDurable, RECORD_MAGIC_BYTES, scanAfterDamage, type LogBytes, type RecordBytes } from '../format/damage-scan.js';
import { readOpener } from '../format/seal-opener.js';
import { keyOffsetIn, recordFlags, recordKind, storedPayloadSize } from '../format/record-fields.js';
import type { MirrorWriter } from '../shm/mirror.js';
import type { LogState } from './log-state.js';
import { readFully, type FileIO } from './file-io.js';
import type { ReplayCrypt } from './log-crypt.js';

export interface RecoveryResult {
  /** LSN after the last complete record: where the writer appends next. */
  end: number;
  /** Where crash residue began (the file must be truncated to `end`), if any. */
  residueAt: number | undefined;
  residueReason: string | undefined;
  /** Records walked and applied by this replay (after `from`). */
  records: number;
  /** Bytes after `end` that the caller cuts off (residue, or everything after salvaged damage). */
  truncatedBytes: number;
  /** Intact records (durable marks aside) found in those bytes and dropped with them. */
  droppedRecords: number;
  /**
   * Offset of damage that durable marks proved was durable, cut because the
   * open asked for `recovery: 'salvage'`; undefined otherwise.
   */
  salvagedAt: number | undefined;
}

/** How recovery treats damage after the tail hint that a durable mark proves was durable (FORMAT.md, "Recovery"). */
export type RecoveryMode = 'strict' | 'salvage';

export interface ReplayRules {
  /** Highest record kind the file's format version defines. */
  maxKind: number;
  mode: RecoveryMode;
  /** Encrypted files: authenticates and decrypts each record as it is checked (log/log-crypt.ts). */
  crypt?: ReplayCrypt;
}

export interface ReplayFrom {
  /** Where the walk starts: DATA_START, or the end of the prefix an index snapshot already holds. */
  from: number;
  /**
   * Records that end at or before this LSN skip their own CRC: a prefix CRC has
   * verified those bytes in one pass. DATA_START verifies nothing that way.
   */
  verifiedTo: number;
}

/**
 * Reads the log bytes [from, fileSize) into the mirror (the whole log by
 * default), segment by segment, into every segment that mirrors them: its
 * own, and the previous one's overflow area (FORMAT.md, "Mirror").
 */
export function loadMirror(mirror: MirrorWriter, io: FileIO, fd: number, fileSize: number, from = 0): void {
  mirror.fill(from, fileSize, (into, at, len, position) => {
    const got = readFully(io, fd, into, at, len, position);
    if (got !== len) throw new EmdbError(ErrorCode.IO, `short read while loading the log (${got} of ${len} bytes)`);
  });
}

/**
 * Walks the records in the mirror from DATA_START and applies them. A bad record
 * before the synced tail hint is corruption and throws; at or after it, the first
 * bad record (or an incomplete transaction) is crash residue: the walk stops and
 * reports where, and the caller truncates there.
 */
export function replayLog(
  state: LogState,
  fileSize: number,
  tailHint: number,
  start: ReplayFrom = { from: DATA_START, verifiedTo: DATA_START },
  rules: ReplayRules = { maxKind: MAX_RECORD_KIND, mode: 'strict' },
): RecoveryResult {
  if (tailHint > fileSize) {
    throw new EmdbError(
      ErrorCode.CORRUPTION,
      `log is shorter (${fileSize} bytes) than its checkpointed tail (${tailHint})`,
      { offset: fileSize },
    );
  }
  const walker = new RecordWalker(state, fileSize, start.verifiedTo, rules.maxKind, rules.crypt);
  let lsn = start.from;
  let records = 0;
  while (lsn < fileSize) {
    const len = walker.check(lsn);
    let fault = len < 0 ? faultName(len) : undefined;
    /** Where the damage is, for the report; `lsn` is where residue would start. */
    let faultAt = lsn;
    let next = lsn + len;
    const kind = len > 0 ? walker.kind(lsn) : 0;
    if (!fault && (walker.flags(lsn) & RECORD_FLAG_IN_TX) !== 0) fault = 'transaction record outside a transaction';
    if (!fault && kind === RecordKind.TX_COMMIT) fault = 'commit record without a begin';
    if (!fault && kind === RecordKind.TX_BEGIN) {
      const tx = walker.checkTransaction(lsn, len);
      if (typeof tx === 'number') next = tx;
      else ({ fault, at: faultAt } = tx);
    }
    if (fault) {
      // Encrypted scheme 2: a cut lands on a unit's opener, never inside the unit.
      lsn = rules.crypt?.cutPoint(lsn) ?? lsn;
      if (lsn < tailHint) {
        throw new EmdbError(ErrorCode.CORRUPTION, `corrupt log at offset ${faultAt}: ${fault}`, { offset: faultAt });
      }
      return endAtDamage(walker, { lsn, faultAt, fault, fileSize, tailHint, records, mode: rules.mode });
    }
    if (kind === RecordKind.TX_BEGIN) {
      // Begin, body and commit: the same records the live append path applies.
      state.apply(lsn);
      records++;
      // checkTransaction has checked every body record (and opened sealed units): step by their stored lengths.
      for (let at = lsn + len; at < next; at += walker.length(at)) {
        state.apply(at);
        if (walker.kind(at) !== SEAL_KIND) records++;
      }
    } else {
      state.apply(lsn);
      // A unit opener (scheme 2) frames records and is not counted as one.
      if (kind !== SEAL_KIND) records++;
    }
    lsn = next;
  }
  return { end: lsn, residueAt: undefined, residueReason: undefined, records, truncatedBytes: 0, droppedRecords: 0, salvagedAt: undefined };
}

interface Damage {
  /** Where the failing record (or incomplete transaction) starts: the log ends here if cut. */
  lsn: number;
  /** Where the damage itself is, for the report. */
  faultAt: number;
  fault: string;
  fileSize: number;
  tailHint: number;
  records: number;
  mode: RecoveryMode;
}

/**
 * The walk failed at or after the tail hint. Residue or corruption? Only a
 * later intact durable mark can tell: its value is an LSN that was fdatasync'ed
 * before it was written, so a value past the damaged record proves those bytes
 * had been durable (unsynced pages land in any order, so a hole followed by
 * intact records is no proof by itself).
 */
function endAtDamage(walker: RecordWalker, d: Damage): RecoveryResult {
  const after = scanAfterDamage(walker.logBytes(), d.lsn, d.tailHint, walker.maxKind);
  const durable = damageIsDurable(after, d.lsn);
  if (durable) {
    if (d.mode !== 'salvage') {
      throw new EmdbError(
        ErrorCode.CORRUPTION,
        `corrupt log at offset ${d.faultAt}: ${d.fault}; a durable mark written later proves these bytes were durable (reopen with recovery: 'salvage' to cut the log there)`,
        { offset: d.faultAt },
      );
    }
  }
  return {
    end: d.lsn,
    residueAt: d.lsn,
    residueReason: d.fault,
    records: d.records,
    truncatedBytes: d.fileSize - d.lsn,
    droppedRecords: after.records,
    salvagedAt: durable ? d.faultAt : undefined,
  };
}

/**
 * The replay's checks of the bytes it just read from the file. They go through
 * MirrorWriter.walkAt, not recordAt: a record is not a record until checked
 * here, each check is bounded by the end of the segment's bytes, and an
 * encrypted record is decrypted in place. Applying a checked record reads it
 * through recordAt like every other reader (LogState.apply).
 */
class RecordWalker {
  constructor(
    private readonly state: LogState,
    private readonly fileSize: number,
    private readonly verifiedTo: number,
    readonly maxKind: number,
    private readonly crypt: ReplayCrypt | undefined,
  ) {}

  check(lsn: number): number {
    const mirror = this.state.mirror;
    const off = mirror.walkAt(lsn);
    const u8 = mirror.walkU8;
    const dv = mirror.walkDv;
    const base = lsn - off;
    // Already checked and decrypted in place (a transaction's body is checked, then applied).
    if (this.crypt && lsn < this.crypt.plainTo) return frameSize(dv, off);
    const len = this.checkBytes(u8, dv, lsn, base);
    if (len <= 0) return len;
    if (this.crypt) return this.crypt.open(mirror, lsn, len, this.fileSize, this.verifiedTo);
    // A plaintext file holds no sealed record.
    return (recordFlags(dv, off) & (RECORD_FLAG_ENCRYPTED | RECORD_FLAG_BATCH_SEALED)) !== 0 ? RecordFault.BAD_FIELDS : len;
  }

  private checkBytes(u8: Uint8Array, dv: DataView, lsn: number, base: number): number {
    const end = Math.min(this.fileSize - base, u8.length);
    if (lsn >= this.verifiedTo) return checkRecord(u8, dv, lsn - base, end, true, this.maxKind);
    // Verified bytes: a record that claims to run past the verified prefix gets its CRC checked after all.
    const len = checkRecord(u8, dv, lsn - base, end, false, this.maxKind);
    return len > 0 && lsn + len > this.verifiedTo ? checkRecord(u8, dv, lsn - base, end, true, this.maxKind) : len;
  }

  /**
   * The mirror as the shared damage scan reads it (format/damage-scan.ts):
   * segment by segment, a record starting in a segment being whole in it
   * (FORMAT.md, "Mirror").
   */
  logBytes(): LogBytes {
    const mirror = this.state.mirror;
    const fileSize = this.fileSize;
    return {
      fileSize,
      findMagic(from: number): number {
        for (let at = from; at < fileSize; ) {
          const base = at - mirror.walkAt(at);
          const u8 = mirror.walkU8;
          const end = Math.min(fileSize - base, u8.length);
          const hit = Buffer.from(u8.buffer, u8.byteOffset, end).indexOf(RECORD_MAGIC_BYTES, at - base);
          // A magic found in the overflow area starts in the next segment: look there.
          const span = mirror.walkSpan;
          if (hit >= 0 && hit < Math.min(end, span)) return base + hit;
          at = base + span;
        }
        return -1;
      },
      recordAt(lsn: number): RecordBytes {
        const off = mirror.walkAt(lsn);
        return { u8: mirror.walkU8, dv: mirror.walkDv, off, end: Math.min(fileSize - (lsn - off), mirror.walkU8.length) };
      },
      // Only an encrypted scheme 2 file has unit openers to step over.
      ...(this.crypt
        ? {
            unit(b: RecordBytes, lsn: number, len: number): { records: number; next: number } | undefined {
              const unit = readOpener(b.dv, b.off);
              return typeof unit !== 'number' && lsn + len + unit.bytes <= fileSize ? { records: unit.count, next: lsn + len + unit.bytes } : undefined;
            },
          }
        : {}),
    };
  }

  /** The length of a record already checked (its header fields are trusted). */
  length(lsn: number): number {
    const off = this.state.mirror.walkAt(lsn);
    return frameSize(this.state.mirror.walkDv, off);
  }

  kind(lsn: number): number {
    const off = this.state.mirror.walkAt(lsn);
    return recordKind(this.state.mirror.walkDv, off);
  }

  flags(lsn: number): number {
    const off = this.state.mirror.walkAt(lsn);
    return recordFlags(this.state.mirror.walkDv, off);
  }

  /**
   * Validates TX_BEGIN at `lsn`, its body and its TX_COMMIT. Returns the LSN
   * after the commit, or why the transaction is incomplete and where.
   */
  checkTransaction(lsn: number, beginLen: number): number | { fault: string; at: number } {
    const bad = (fault: string, at: number): { fault: string; at: number } => ({ fault, at });
    const overhead = storedPayloadSize(this.flags(lsn), 0, 0);
    if (beginLen !== RECORD_HEADER_SIZE + overhead + TX_BEGIN_VALUE_SIZE) return bad('malformed transaction begin', lsn);
    const txId = this.valueWord(lsn, 0);
    const count = this.valueWord(lsn, 1);
    const bodyBytes = this.valueWord(lsn, 2);
    let at = lsn + beginLen;
    const bodyEnd = at + bodyBytes;
    for (let i = 0; i < count; i++) {
      const opened = this.skipOpeners(at);
      if (typeof opened !== 'number') return opened;
      at = opened;
      const len = this.check(at);
      if (len < 0) return bad(`transaction body: ${faultName(len)}`, at);
      if ((this.flags(at) & RECORD_FLAG_IN_TX) === 0) return bad('transaction body holds a record not marked as such', at);
      at += len;
      if (at > bodyEnd) return bad('transaction body longer than declared', lsn);
    }
    const opened = this.skipOpeners(at);
    if (typeof opened !== 'number') return opened;
    at = opened;
    if (at !== bodyEnd) return bad('transaction body length mismatch', lsn);
    const commitLen = this.check(at);
    if (commitLen === RecordFault.TRUNCATED || commitLen < 0) return bad('transaction without an intact commit record', at);
    if (
      this.kind(at) !== RecordKind.TX_COMMIT ||
      commitLen !== RECORD_HEADER_SIZE + storedPayloadSize(this.flags(at), 0, 0) + TX_COMMIT_VALUE_SIZE ||
      this.valueWord(at, 0) !== txId ||
      this.valueWord(at, 1) !== count
    ) {
      return bad('transaction commit does not match its begin', at);
    }
    return at + commitLen;
  }

  /**
   * A transaction of a scheme 2 file may span units: the opener of the next
   * one sits inside the body (counted in bodyBytes). Opens it and steps over.
   */
  private skipOpeners(at: number): number | { fault: string; at: number } {
    while (at < this.fileSize && this.crypt && this.kind(at) === SEAL_KIND && at >= this.crypt.plainTo) {
      const len = this.check(at);
      if (len < 0) return { fault: `transaction body: ${faultName(len)}`, at };
      at += len;
    }
    return at;
  }

  private valueWord(lsn: number, word: number): number {
    // TX_BEGIN and TX_COMMIT have an empty key: the value starts where the key would.
    const off = this.state.mirror.walkAt(lsn);
    const dv = this.state.mirror.walkDv;
    return dv.getUint32(off + keyOffsetIn(recordFlags(dv, off)) + word * 4, true);
  }
}
