/**
 * A read-only walk over a log file for `emdb-js verify`: the header, then every
 * record's framing and CRC, transaction framing, and the checkpointed prefix CRC.
 * The only CLI module that reads the file format directly; it uses the record
 * and header decoders of src/format/ and nothing that writes.
 *
 * The verdict follows recovery's rules (src/log/recovery.ts): a bad record
 * before the checkpointed tail hint is damage; at or after it, the first bad
 * record is crash residue that the next open truncates (not damage).
 *
 * Encrypted files: with the key, the header slots' MACs and every sealed
 * record are authenticated (a record that fails is damage wherever it is: its
 * CRC passed, so it is not a torn write) and the transaction framing, which is
 * sealed, is checked on the decrypted copy. Without the key only the framing
 * and CRCs in the clear can be checked.
 */
import { crc32 } from '@node-rs/crc32';
import fs from 'node:fs';
import { EmdbError, ErrorCode } from '../index.js';
import { DATA_START, MAX_RECORD_KIND, PRELUDE, RECORD, RECORD_FLAG_BATCH_SEALED, RECORD_FLAG_ENCRYPTED, RECORD_FLAG_IN_TX, RECORD_HEADER_SIZE, RecordKind, SEAL_KIND, SEAL_RECORD_SIZE } from '../format/constants.js';
import { assertWholeHeader, chooseSlot, decodePrelude, isEncrypted } from '../format/header.js';
import { checkRecord, faultName, frameSize } from '../format/record.js';
import { keyOffsetIn } from '../format/record-fields.js';
import { DbKeys, RECORD_SCHEME_SEALED_UNITS, type EncryptionSpec } from '../crypto/keys.js';
import { readOpener, regionWellFormed, unitSize, type BatchCrypt } from '../crypto/batch-crypt.js';
import { mustBeSealed } from '../crypto/record-crypt.js';
import { LogCrypt } from '../log/log-crypt.js';

export interface WalkReport {
  fileBytes: number;
  formatVersion: number;
  encrypted: boolean;
  /** Encrypted files: whether records and header slots were authenticated (a key was given). */
  authenticated: boolean;
  tailHint: number;
  /** Records whose framing and CRC passed, by kind name. */
  records: number;
  byKind: Record<string, number>;
  transactions: number;
  /** Where valid records end. */
  end: number;
  /**
   * The checkpointed prefix CRC, computed over every byte of [DATA_START, tail
   * hint) even when the walk stopped at damage: 'ok', 'mismatch', 'absent'
   * (format 1 slots carry none), or 'unchecked' when the file ends before the
   * tail hint (the bytes it covers are not all there).
   */
  prefixCrc: 'ok' | 'mismatch' | 'absent' | 'unchecked';
  /** First damage before the tail hint: the file is corrupt. */
  damage: { offset: number; reason: string } | undefined;
  /** Incomplete tail after the tail hint: crash residue, dropped by the next open. */
  residue: { offset: number; bytes: number; reason: string } | undefined;
}

const KIND_NAMES: Record<number, string> = Object.fromEntries(Object.entries(RecordKind).map(([k, v]) => [v, k.toLowerCase()]));
const WINDOW = 8 << 20;

/** A sliding read window over the file: records are checked in place, bigger ones grow it (salvage-walk.ts reads with it too). */
export class Window {
  buf = Buffer.allocUnsafe(WINDOW);
  dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  /** File offset of buf[0] and of the end of the valid bytes. */
  start = 0;
  end = 0;

  constructor(
    private readonly fd: number,
    readonly fileBytes: number,
  ) {}

  /** Makes [off, off + len) (clamped to the file) resident; returns the offset of `off` in buf. */
  ensure(off: number, len: number): number {
    const want = Math.min(off + len, this.fileBytes);
    if (off >= this.start && want <= this.end) return off - this.start;
    if (want - off > this.buf.length) {
      this.buf = Buffer.allocUnsafe(want - off);
      this.dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    }
    this.start = off;
    this.end = off;
    const upTo = Math.min(this.fileBytes, off + this.buf.length);
    while (this.end < upTo) {
      const n = fs.readSync(this.fd, this.buf, this.end - off, upTo - this.end, this.end);
      if (n === 0) break;
      this.end += n;
    }
    return 0;
  }

  /**
   * The structural check (header fields, no CRC) of the record at window
   * offset `at`, judged against the file's end: the window may end inside a
   * record the file holds whole, which is no truncation (ensure() then makes
   * it resident for the CRC check).
   */
  checkFrame(at: number, maxKind: number): number {
    const resident = this.end - this.start;
    return checkRecord(this.buf, this.dv, at, resident - at < RECORD_HEADER_SIZE ? resident : at + (this.fileBytes - (this.start + at)), false, maxKind);
  }
}

/**
 * `encryption`: the key of an encrypted file (a wrong one throws
 * ERR_EMDB_ENCRYPTION_KEY_MISMATCH before any record is read; given for a
 * plaintext file it throws ERR_EMDB_INVALID_CONFIG, as open does).
 */
export function walkLog(path: string, onProgress: (offset: number) => void, encryption?: EncryptionSpec): WalkReport {
  const fd = fs.openSync(path, 'r');
  try {
    const fileBytes = fs.fstatSync(fd).size;
    const header = Buffer.alloc(DATA_START);
    let got = 0;
    for (let n = -1; n !== 0 && got < DATA_START; got += n) n = fs.readSync(fd, header, got, DATA_START - got, got);
    // A file cut inside the header area would otherwise read as zeros there: an empty slot, a log of nothing, "ok".
    assertWholeHeader(header, got, path);
    // Both throw EmdbError (not a database, unsupported version, corrupt header) with an offset.
    const prelude = decodePrelude(header);
    const encrypted = isEncrypted(prelude);
    if (encryption && !encrypted) throw new EmdbError(ErrorCode.INVALID_CONFIG, 'the database is not encrypted: verify it without a key');
    // The key check refuses a wrong key; generation 0 only serves the slot MACs, records carry their own generation in the nonce.
    const crypt = encryption && new LogCrypt(DbKeys.fromPrelude(prelude.bytes, encryption), prelude.fileId, 0);
    const slot = chooseSlot(header, prelude.version, crypt?.acceptSlot);
    const report: WalkReport = {
      fileBytes,
      formatVersion: prelude.version,
      encrypted,
      authenticated: crypt !== undefined,
      tailHint: slot.tailHint,
      records: 0,
      byKind: {},
      transactions: 0,
      end: DATA_START,
      prefixCrc: slot.prefixCrc === undefined ? 'absent' : 'ok',
      damage: undefined,
      residue: undefined,
    };
    const w = new Window(fd, fileBytes);
    let prefix = 0;
    /** Where the bytes folded into `prefix` end. */
    let prefixTo = DATA_START;
    let lsn = DATA_START;
    /** Records still expected in the open transaction, and where it began; -1: none open. */
    let txLeft = -1;
    let txAt = 0;
    /** Scheme 2: members below this LSN were checked, folded into the prefix CRC and decrypted with their unit. */
    let plainTo = DATA_START;
    const maxKind = prelude.bytes[PRELUDE.RECORD_SCHEME] === RECORD_SCHEME_SEALED_UNITS ? SEAL_KIND : MAX_RECORD_KIND;
    const fault = (at: number, reason: string): void => {
      // A fault inside a transaction that straddles nothing checkpointed is residue from its begin.
      const from = txLeft >= 0 ? txAt : at;
      if (at < slot.tailHint) report.damage = { offset: at, reason };
      else report.residue = { offset: from, bytes: fileBytes - from, reason };
    };
    while (lsn < fileBytes) {
      let at = w.ensure(lsn, RECORD_HEADER_SIZE);
      let len = w.checkFrame(at, maxKind);
      if (len > 0) {
        // Structure passed: make the whole record resident (a unit opener: its whole unit), then check its CRC.
        at = w.ensure(lsn, w.buf[at + RECORD.KIND] === SEAL_KIND ? Math.min(unitSize(w.dv, at), fileBytes - lsn) : frameSize(w.dv, at));
        len = checkRecord(w.buf, w.dv, at, w.end - w.start, true, maxKind);
      }
      if (len < 0) {
        fault(lsn, faultName(len));
        break;
      }
      const kind = w.buf[at + RECORD.KIND]!;
      const flags = w.buf[at + RECORD.FLAGS]!;
      const inTx = (flags & RECORD_FLAG_IN_TX) !== 0;
      if (kind === SEAL_KIND) {
        const unit = verifyUnit(w, at, lsn, fileBytes, crypt?.batch, prefix);
        if (typeof unit === 'string') {
          if (unit.startsWith('unit fails')) report.damage = { offset: lsn, reason: unit };
          else fault(lsn, unit);
          break;
        }
        if (lsn + unit.bytes <= slot.tailHint) {
          prefix = unit.crc;
          prefixTo = lsn + unit.bytes;
        }
        report.byKind.SEAL_UNIT = (report.byKind.SEAL_UNIT ?? 0) + 1;
        if (crypt) {
          // Its records, decrypted in the window, are walked next (their own CRCs checked).
          plainTo = lsn + unit.bytes;
          lsn += len;
        } else {
          // Without the key the region is ciphertext: its CRC is all that can be checked.
          report.records += unit.count;
          lsn += unit.bytes;
          if (txLeft < 0) report.end = lsn;
        }
        onProgress(lsn);
        continue;
      }
      // The prefix CRC covers the bytes on disk: fold them in before any decryption.
      if (lsn >= plainTo && lsn + len <= slot.tailHint) {
        prefix = crc32(w.buf.subarray(at, at + len), prefix);
        prefixTo = lsn + len;
      }
      if (crypt && lsn >= plainTo) {
        const sealed = (flags & RECORD_FLAG_ENCRYPTED) !== 0;
        // The window is our own copy: decrypt in place, then read the framing from the plaintext.
        const why = sealed !== mustBeSealed(w.dv, at) || (flags & RECORD_FLAG_BATCH_SEALED) !== 0 || (crypt.batch && mustBeSealed(w.dv, at)) ? 'record protection does not match the file (plaintext record in an encrypted file, or the reverse)'
          : sealed && !crypt.records.openInPlace(w.buf, w.dv, at, lsn) ? 'record fails authentication (tampered, moved, or sealed under another key)' : undefined;
        if (why) {
          report.damage = { offset: lsn, reason: why };
          break;
        }
      }
      let framing: string | undefined;
      if (encrypted && !crypt) {
        // Transaction framing is sealed: without the key only the records' own framing and CRCs are checked.
      } else if (kind === RecordKind.TX_BEGIN) {
        if (txLeft >= 0) framing = 'transaction begins inside another';
        else {
          txLeft = w.dv.getUint32(at + keyOffsetIn(flags) + 4, true);
          txAt = lsn;
        }
      } else if (kind === RecordKind.TX_COMMIT) {
        if (txLeft !== 0) framing = txLeft < 0 ? 'commit record without a begin' : 'transaction commit before its body ended';
        else {
          txLeft = -1;
          report.transactions++;
        }
      } else if (inTx !== txLeft > 0) {
        framing = inTx ? 'transaction record outside a transaction' : 'transaction body holds a record not marked as such';
      } else if (inTx) {
        txLeft--;
      }
      if (framing) {
        fault(lsn, framing);
        break;
      }
      const name = KIND_NAMES[kind] ?? String(kind);
      report.byKind[name] = (report.byKind[name] ?? 0) + 1;
      report.records++;
      lsn += len;
      if (txLeft < 0) report.end = lsn;
      onProgress(lsn);
    }
    if (!report.damage && !report.residue && txLeft >= 0) fault(lsn, 'transaction without an intact commit record');
    if (report.end < slot.tailHint && !report.damage) {
      report.damage = { offset: report.end, reason: `log ends (${report.end}) before its checkpointed tail (${slot.tailHint})` };
    }
    if (slot.prefixCrc !== undefined) {
      // A walk stopped by damage folded only the records before it: the rest of the prefix is
      // hashed as raw bytes, so the report never calls "ok" a CRC that covers the damaged byte.
      if (slot.tailHint > fileBytes) report.prefixCrc = 'unchecked';
      else {
        // Reread from the file: the window may hold records decrypted in place.
        w.end = w.start;
        for (let at = prefixTo; at < slot.tailHint; ) {
          const off = w.ensure(at, Math.min(WINDOW, slot.tailHint - at));
          const end = Math.min(w.end, slot.tailHint);
          prefix = crc32(w.buf.subarray(off, off + (end - at)), prefix);
          at = end;
        }
        if ((prefix >>> 0) !== slot.prefixCrc) report.prefixCrc = 'mismatch';
      }
    }
    return report;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Checks the sealed unit (scheme 2) whose opener is at `at` of the window
 * (resident whole): its region CRC, then, with the key, its authentication,
 * decrypting the region in place (the window is our own copy) so the walk
 * goes on through its records. Returns the unit's size and `prefix` with the
 * unit's file bytes folded in (before decryption), or why it is bad.
 */
function verifyUnit(w: Window, at: number, lsn: number, fileBytes: number, batch: BatchCrypt | undefined, prefix: number): { bytes: number; crc: number; count: number } | string {
  const fields = readOpener(w.dv, at);
  if (typeof fields === 'number') return `sealed unit: ${faultName(fields)}`;
  const bytes = SEAL_RECORD_SIZE + fields.bytes;
  if (lsn + bytes > fileBytes) return 'sealed unit: truncated';
  const region = w.buf.subarray(at + SEAL_RECORD_SIZE, at + bytes);
  if (crc32(region) !== fields.crc) return 'sealed unit: bad CRC';
  const crc = crc32(w.buf.subarray(at, at + bytes), prefix);
  if (batch) {
    const plain = batch.openRegion(w.buf.subarray(at, at + SEAL_RECORD_SIZE), lsn, region);
    if (!plain) return 'unit fails authentication (tampered, moved, or sealed under another key)';
    if (!regionWellFormed(plain, fields.count, MAX_RECORD_KIND)) return 'unit fails authentication: malformed records inside';
    region.set(plain);
  }
  return { bytes, crc, count: fields.count };
}
