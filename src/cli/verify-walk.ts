/**
 * A read-only walk over a log file for `emdb-js verify`: the header, then every
 * record's framing and CRC, transaction framing, and the checkpointed prefix CRC.
 * The only CLI module that reads the file format directly; it uses the record
 * and header decoders of src/format/ and nothing that writes.
 *
 * The verdict follows recovery's rules (src/log/recovery.ts): a bad record
 * before the checkpointed tail hint is damage; at or after it, the first bad
 * record is crash residue that the next open truncates, unless a later intact
 * durable mark proves the bytes were durable: then it is damage, as open
 * refuses it. That judgement is recovery's own code (format/damage-scan.ts).
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
import { DATA_START, MAX_RECORD_KIND, MAX_RECORD_KIND_V2, PRELUDE, RECORD, RECORD_FLAG_BATCH_SEALED, RECORD_FLAG_ENCRYPTED, RECORD_FLAG_IN_TX, RECORD_HEADER_SIZE, RecordKind, SEAL_KIND, SLOT_A_OFFSET, V3 } from '../format/constants.js';
import { damageIsDurable, scanAfterDamage, type LogBytes } from '../format/damage-scan.js';
import { decodePrelude, inspectSlots, isEncrypted, type SlotStatus } from '../format/header.js';
import { checkRecord, faultName, frameSize } from '../format/record.js';
import { keyOffsetIn } from '../format/record-fields.js';
import { DbKeys, RECORD_SCHEME_SEALED_UNITS, type EncryptionSpec } from '../crypto/keys.js';
import { regionWellFormed, type BatchCrypt } from '../crypto/batch-crypt.js';
import { readOpener, unitSize } from '../format/seal-opener.js';
import { mustBeSealed } from '../crypto/record-crypt.js';
import { LogCrypt } from '../log/log-crypt.js';
import { readHeaderArea, WINDOW, Window, windowBytes } from './read-window.js';

export interface WalkReport {
  fileBytes: number;
  formatVersion: number;
  encrypted: boolean;
  /** Encrypted files: whether records and header slots were authenticated (a key was given). */
  authenticated: boolean;
  tailHint: number;
  /** Each header slot as open reads it, and which one it uses (the other may have failed its check: a torn checkpoint, or damage). */
  slots: { a: SlotStatus; b: SlotStatus; used: 'A' | 'B'; sequence: number };
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
  /**
   * First damage: before the tail hint, or after it where a later durable
   * mark proves the bytes were durable (`durableMark`: that mark's offset; open
   * refuses the file, `recovery: 'salvage'` would cut the log at `cutAt`,
   * dropping `droppedRecords` intact records). The file is corrupt.
   */
  damage: { offset: number; reason: string; durableMark?: number; cutAt?: number; droppedRecords?: number } | undefined;
  /** Incomplete tail after the tail hint that no durable mark proves durable: crash residue, which the next open cuts (with `droppedRecords` intact records after it). */
  residue: { offset: number; bytes: number; reason: string; droppedRecords: number } | undefined;
  /**
   * Set by verify, not by the walk: the database is open in a live process and
   * the walks found a bad record after the tail hint at a different offset each
   * time (records being written as they were read), so the bytes from `offset`
   * are not judged.
   */
  liveTail?: { offset: number; reason: string; pid: number };
}

const KIND_NAMES: Record<number, string> = Object.fromEntries(Object.entries(RecordKind).map(([k, v]) => [v, k.toLowerCase()]));
/**
 * `encryption`: the key of an encrypted file (a wrong one throws
 * ERR_EMDB_ENCRYPTION_KEY_MISMATCH before any record is read; given for a
 * plaintext file it throws ERR_EMDB_INVALID_CONFIG, as open does).
 */
export function walkLog(path: string, onProgress: (offset: number) => void, encryption?: EncryptionSpec): WalkReport {
  const fd = fs.openSync(path, 'r');
  try {
    // Header first, size after: a live writer appends and then checkpoints, so every
    // byte below the tail hint read here is in the file by the time it is measured.
    const header = readHeaderArea(fd, path);
    const fileBytes = fs.fstatSync(fd).size;
    // Both throw EmdbError (not a database, unsupported version, corrupt header) with an offset.
    const prelude = decodePrelude(header);
    const encrypted = isEncrypted(prelude);
    if (encryption && !encrypted) throw new EmdbError(ErrorCode.INVALID_CONFIG, 'the database is not encrypted: verify it without a key');
    // The key check refuses a wrong key; units and records carry what their nonce needs (stored, or a generation).
    const crypt = encryption && new LogCrypt(DbKeys.fromPrelude(prelude.bytes, encryption), prelude.fileId);
    // Open uses the valid slot with the higher sequence; a slot that fails its check is reported, not fatal (both failing throws).
    const slots = inspectSlots(header, prelude.version, crypt?.acceptSlot);
    const slot = slots.chosen;
    const report: WalkReport = {
      fileBytes,
      formatVersion: prelude.version,
      encrypted,
      authenticated: crypt !== undefined,
      tailHint: slot.tailHint,
      slots: { a: slots.a, b: slots.b, used: slot.offset === SLOT_A_OFFSET ? 'A' : 'B', sequence: slot.sequence },
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
    const sealedUnits = prelude.bytes[PRELUDE.RECORD_SCHEME] === RECORD_SCHEME_SEALED_UNITS;
    // The kinds open accepts (src/writer/open-log.ts): no durable mark or prefix delete before version 3.
    const maxKind = sealedUnits ? SEAL_KIND : prelude.version >= V3 ? MAX_RECORD_KIND : MAX_RECORD_KIND_V2;
    /** Scheme 2 with the key: the units walked, [opener LSN, end), so a cut lands on an opener as recovery's does. */
    const units: [number, number][] = [];
    const fault = (at: number, reason: string): void => {
      // Where recovery would cut: a transaction's begin, moved back to the opener of the unit holding it.
      let cut = txLeft >= 0 ? txAt : at;
      cut = units.findLast(([from, to]) => cut > from && cut < to)?.[0] ?? cut;
      if (cut < slot.tailHint) {
        report.damage = { offset: at, reason };
        return;
      }
      // At or after the tail hint: residue unless a later durable mark proves these bytes durable (recovery's own test).
      const after = scanAfterDamage(damageScanBytes(fd, fileBytes, sealedUnits), cut, slot.tailHint, maxKind);
      if (damageIsDurable(after, cut)) {
        report.damage = {
          offset: at,
          reason: `${reason}; a durable mark written later (offset ${after.markAt}: durable up to ${after.durable}) proves these bytes were durable, so open refuses the file (recovery: 'salvage' would cut the log at ${cut}, dropping ${after.records} intact records after it)`,
          durableMark: after.markAt,
          cutAt: cut,
          droppedRecords: after.records,
        };
      } else {
        report.residue = { offset: cut, bytes: fileBytes - cut, reason, droppedRecords: after.records };
      }
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
          units.push([lsn, lsn + unit.bytes]);
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
        // A protection mismatch is a bad record (residue or damage by position, as ReplayCrypt.open says);
        // a record that fails authentication is damage wherever it is: its CRC passed, so it is no torn write.
        if (sealed !== mustBeSealed(w.dv, at) || (flags & RECORD_FLAG_BATCH_SEALED) !== 0 || (crypt.batch && mustBeSealed(w.dv, at))) {
          fault(lsn, 'record protection does not match the file (plaintext record in an encrypted file, or the reverse)');
          break;
        }
        if (sealed && !crypt.records.openInPlace(w.buf, w.dv, at, lsn)) {
          report.damage = { offset: lsn, reason: 'record fails authentication (tampered, moved, or sealed under another key)' };
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
 * The file's bytes for the damage scan, with recovery's rule for a scheme 2
 * file: an intact unit opener's region is ciphertext, counted by its opener
 * and stepped over, never searched for records.
 */
function damageScanBytes(fd: number, fileBytes: number, sealedUnits: boolean): LogBytes {
  const bytes = windowBytes(fd, fileBytes);
  if (!sealedUnits) return bytes;
  return {
    ...bytes,
    unit(b, lsn, len) {
      const unit = readOpener(b.dv, b.off);
      return typeof unit !== 'number' && lsn + len + unit.bytes <= fileBytes ? { records: unit.count, next: lsn + len + unit.bytes } : undefined;
    },
  };
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
  const bytes = fields.size + fields.bytes;
  if (lsn + bytes > fileBytes) return 'sealed unit: truncated';
  const region = w.buf.subarray(at + fields.size, at + bytes);
  if (crc32(region) !== fields.crc) return 'sealed unit: bad CRC';
  const crc = crc32(w.buf.subarray(at, at + bytes), prefix);
  if (batch) {
    const plain = batch.openRegion(w.buf.subarray(at, at + fields.size), fields, lsn, region);
    if (!plain) return 'unit fails authentication (tampered, moved, or sealed under another key)';
    if (!regionWellFormed(plain, fields.count, MAX_RECORD_KIND)) return 'unit fails authentication: malformed records inside';
    region.set(plain);
  }
  return { bytes, crc, count: fields.count };
}
