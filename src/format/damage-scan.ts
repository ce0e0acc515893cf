/**
 * Recovery's judgement of damage at or after the tail hint (FORMAT.md,
 * "Recovery", step 4): crash residue, or bytes a later durable mark proves
 * were durable? Both the open (src/log/recovery.ts, over the mirror) and
 * `emdb-js verify` (src/cli/verify-walk.ts, over a read window) call this one
 * scan, so verify can never call "residue the next open drops" what open
 * refuses as corruption. Pure over bytes: each caller says how its bytes are
 * reached through `LogBytes`.
 */
import { RECORD_MAGIC, SEAL_KIND, RECORD } from './constants.js';
import { checkRecord, readDurableMark } from './record.js';

/** The record magic as it appears in the file (little-endian), for a byte search. */
export const RECORD_MAGIC_BYTES = Buffer.alloc(4);
RECORD_MAGIC_BYTES.writeUInt32LE(RECORD_MAGIC);

/** Where the bytes of a record starting at some LSN can be read: `u8[off, end)`, and `dv` over the same buffer. */
export interface RecordBytes {
  u8: Uint8Array;
  dv: DataView;
  off: number;
  end: number;
}

/** How the scan reaches a log's bytes. */
export interface LogBytes {
  fileSize: number;
  /** The first LSN at or after `from` where the record magic starts, or -1. */
  findMagic(from: number): number;
  /**
   * The bytes from `lsn` on: the whole record when the file holds it whole
   * (the caller may first check its header fields to decide how much to read).
   */
  recordAt(lsn: number): RecordBytes;
  /**
   * Encrypted scheme 2 files only: the opener (kind SEAL) of a sealed unit at
   * `lsn`, `len` bytes, checked. Returns the records the unit holds and the
   * LSN after it, or undefined when its fields do not describe a unit the file
   * holds whole (then only the opener is stepped over).
   */
  unit?(bytes: RecordBytes, lsn: number, len: number): { records: number; next: number } | undefined;
}

export interface AfterDamage {
  /** Intact records (durable marks aside) in (cut, fileSize): what cutting there drops. */
  records: number;
  /** The largest value of an intact durable mark consistent with its place (tail hint ≤ value ≤ its own LSN), or -1. */
  durable: number;
  /** The LSN of that mark, or -1. */
  markAt: number;
}

/**
 * Scans (cut, fileSize) for intact records: every occurrence of the record
 * magic is checked (fields and CRC); an intact record is skipped whole, so
 * records are not looked for inside it. `maxKind` is the file's (version 1/2
 * files define no durable mark, so no mark passes there).
 */
export function scanAfterDamage(log: LogBytes, cut: number, tailHint: number, maxKind: number): AfterDamage {
  const found: AfterDamage = { records: 0, durable: -1, markAt: -1 };
  let at = cut + 1;
  while (at < log.fileSize) {
    const lsn = log.findMagic(at);
    if (lsn < 0) break;
    const b = log.recordAt(lsn);
    const len = checkRecord(b.u8, b.dv, b.off, b.end, true, maxKind);
    if (len < 0) {
      at = lsn + 1;
      continue;
    }
    const mark = readDurableMark(b.dv, b.off);
    if (mark >= 0) {
      if (markProvesDurable(mark, lsn, tailHint) && mark > found.durable) {
        found.durable = mark;
        found.markAt = lsn;
      }
    } else if (b.u8[b.off + RECORD.KIND] === SEAL_KIND && log.unit) {
      // A unit opener frames the records it counts; its region is ciphertext, never scanned.
      const unit = log.unit(b, lsn, len);
      if (unit) {
        found.records += unit.records;
        at = unit.next;
        continue;
      }
    } else {
      found.records++;
    }
    at = lsn + len;
  }
  return found;
}

/**
 * Whether an intact durable mark at `markLsn` with value `value` may be
 * believed: its value is never behind the tail hint (a checkpoint synced at
 * least that much before) nor past the mark itself (it was written after the
 * sync it reports).
 */
export function markProvesDurable(value: number, markLsn: number, tailHint: number): boolean {
  return value >= tailHint && value <= markLsn;
}

/**
 * The verdict for a walk that failed at `cut` (at or after the tail hint): a
 * mark value past it proves those bytes had been fdatasync'ed before a later
 * record was written, so they are corruption, not crash residue.
 */
export function damageIsDurable(after: AfterDamage, cut: number): boolean {
  return after.durable > cut;
}
