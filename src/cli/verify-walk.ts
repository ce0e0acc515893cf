/**
 * A read-only walk over a log file for `emdb-js verify`: the header, then every
 * record's framing and CRC, transaction framing, and the checkpointed prefix CRC.
 * The only CLI module that reads the file format directly; it uses the record
 * and header decoders of src/format/ and nothing that writes.
 *
 * The verdict follows recovery's rules (src/log/recovery.ts): a bad record
 * before the checkpointed tail hint is damage; at or after it, the first bad
 * record is crash residue that the next open truncates (not damage).
 */
import { crc32 } from '@node-rs/crc32';
import fs from 'node:fs';
import { DATA_START, RECORD, RECORD_FLAG_IN_TX, RECORD_HEADER_SIZE, RecordKind } from '../format/constants.js';
import { chooseSlot, decodePrelude, isEncrypted } from '../format/header.js';
import { checkRecord, faultName, frameSize } from '../format/record.js';

export interface WalkReport {
  fileBytes: number;
  formatVersion: number;
  encrypted: boolean;
  tailHint: number;
  /** Records whose framing and CRC passed, by kind name. */
  records: number;
  byKind: Record<string, number>;
  transactions: number;
  /** Where valid records end. */
  end: number;
  /** 'ok', 'mismatch', or 'absent' (format 1 slots carry none). */
  prefixCrc: 'ok' | 'mismatch' | 'absent';
  /** First damage before the tail hint: the file is corrupt. */
  damage: { offset: number; reason: string } | undefined;
  /** Incomplete tail after the tail hint: crash residue, dropped by the next open. */
  residue: { offset: number; bytes: number; reason: string } | undefined;
}

const KIND_NAMES: Record<number, string> = Object.fromEntries(Object.entries(RecordKind).map(([k, v]) => [v, k.toLowerCase()]));
const WINDOW = 8 << 20;

/** A sliding read window over the file: records are checked in place, bigger ones grow it. */
class Window {
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
}

export function walkLog(path: string, onProgress: (offset: number) => void): WalkReport {
  const fd = fs.openSync(path, 'r');
  try {
    const fileBytes = fs.fstatSync(fd).size;
    const header = Buffer.alloc(DATA_START);
    fs.readSync(fd, header, 0, DATA_START, 0);
    // Both throw EmdbError (not a database, unsupported version, corrupt header) with an offset.
    const prelude = decodePrelude(header);
    const slot = chooseSlot(header, prelude.version);
    const report: WalkReport = {
      fileBytes,
      formatVersion: prelude.version,
      encrypted: isEncrypted(prelude),
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
    let lsn = DATA_START;
    /** Records still expected in the open transaction, and where it began; -1: none open. */
    let txLeft = -1;
    let txAt = 0;
    const fault = (at: number, reason: string): void => {
      // A fault inside a transaction that straddles nothing checkpointed is residue from its begin.
      const from = txLeft >= 0 ? txAt : at;
      if (at < slot.tailHint) report.damage = { offset: at, reason };
      else report.residue = { offset: from, bytes: fileBytes - from, reason };
    };
    while (lsn < fileBytes) {
      let at = w.ensure(lsn, RECORD_HEADER_SIZE);
      let len = checkRecord(w.buf, w.dv, at, w.end - w.start, false);
      if (len > 0) {
        // Structure passed: make the whole record resident, then check its CRC.
        at = w.ensure(lsn, frameSize(w.dv, at));
        len = checkRecord(w.buf, w.dv, at, w.end - w.start);
      }
      if (len < 0) {
        fault(lsn, faultName(len));
        break;
      }
      const kind = w.buf[at + RECORD.KIND]!;
      const inTx = (w.buf[at + RECORD.FLAGS]! & RECORD_FLAG_IN_TX) !== 0;
      let framing: string | undefined;
      if (kind === RecordKind.TX_BEGIN) {
        if (txLeft >= 0) framing = 'transaction begins inside another';
        else {
          txLeft = w.dv.getUint32(at + RECORD_HEADER_SIZE + 4, true);
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
      if (lsn + len <= slot.tailHint) prefix = crc32(w.buf.subarray(at, at + len), prefix);
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
    if (slot.prefixCrc !== undefined && !report.damage && (prefix >>> 0) !== slot.prefixCrc) report.prefixCrc = 'mismatch';
    return report;
  } finally {
    fs.closeSync(fd);
  }
}
