import { EmdbError, ErrorCode } from '../errors.js';
import { RECORD, RECORD_FLAG_ENCRYPTED, RECORD_HEADER_SIZE } from '../format/constants.js';
import { readU64 } from '../format/u64.js';
import { FRAME_BYTES, type FrameReader } from './frame-pool.js';
import type { KeySource } from './index-table.js';
import type { RecordFetch } from './record-fetch.js';

/**
 * Thrown out of a probe when the generation's descriptor was retired (G3): the
 * caller syncs its view and looks again. An EmdbError (ERR_EMDB_IO), so one that
 * escapes a path without that retry still carries a code.
 */
export class GenerationRetired extends EmdbError {
  constructor() {
    super(ErrorCode.IO, 'the log generation this read started on was retired (a compaction replaced it, or the database closed)');
  }
}

/**
 * A reader thread's records of one log generation through the frame pool
 * (docs/DESIGN.md, "Bounded page cache", step 3): the probe's key comparison
 * and the value copy read a resident page under its frame's version (F2), and
 * anything else (a miss, a race lost, a record that crosses a page end) from
 * the file with one pread checked against the record's CRC (record-fetch.ts).
 *
 * The match of the last keyEquals() that returned true is kept for
 * copyValue() and the expiry check: its header was read inside a confirmed
 * version window, so its lengths and deadline are the record's own.
 * Plaintext logs only: a frame of an encrypted log holds plaintext the
 * writer decrypted, and a record read from such a file would need the keys.
 */
export class FrameRecords implements KeySource {
  /** Deadline of the last match in epoch ms (0 = none). */
  expiresAt = 0;
  /** Value length of the last match. */
  valueLen = 0;
  private matchLsn = 0;
  private matchKeyLen = 0;
  /** The last match was read from the file: its bytes are in fetch.bytes. */
  private matchFetched = false;
  /** Pages served from frames and records read from the file (statistics for tests and stats()). */
  hits = 0;
  misses = 0;

  constructor(
    private readonly pool: FrameReader,
    private readonly table: Int32Array,
    private readonly owner: number,
    private readonly file: Int32Array,
    private readonly fetch: RecordFetch,
  ) {}

  keyEquals(lsn: number, namespace: number, bytes: Uint8Array, start: number, len: number): boolean {
    const page = Math.floor(lsn / FRAME_BYTES);
    const inPage = lsn - page * FRAME_BYTES;
    if (inPage + RECORD_HEADER_SIZE + len <= FRAME_BYTES) {
      const pool = this.pool;
      const frame = pool.locate(this.table, this.owner, page);
      if (frame >= 0) {
        const version = pool.version;
        const u8 = pool.bytesOf(frame);
        const dv = pool.dvOf(frame);
        const at = pool.frameStart(frame) + inPage;
        // Every read stays inside [at, at + header + len), within the frame, whatever a racing writer left there.
        let equal =
          dv.getUint32(at + RECORD.KEY_LEN, true) === len &&
          dv.getUint32(at + RECORD.NAMESPACE, true) === namespace &&
          (u8[at + RECORD.FLAGS]! & RECORD_FLAG_ENCRYPTED) === 0;
        if (equal) {
          const k = at + RECORD_HEADER_SIZE;
          for (let i = 0; i < len; i++) {
            if (u8[k + i] !== bytes[start + i]) {
              equal = false;
              break;
            }
          }
        }
        const valueLen = dv.getUint32(at + RECORD.VALUE_LEN, true);
        const expiresAt = readU64(dv, at + RECORD.EXPIRES_AT);
        if (pool.confirm(frame, version)) {
          this.hits++;
          if (equal) this.match(lsn, len, valueLen, expiresAt, false);
          return equal;
        }
      }
    }
    return this.keyEqualsFetched(lsn, namespace, bytes, start, len);
  }

  /**
   * A copy of the last match's value: from its frames when they still hold
   * it, else from the file. Throws GenerationRetired when the file is no
   * longer readable by this generation (G3).
   */
  copyValue(): Buffer {
    const valueLen = this.valueLen;
    const out = Buffer.allocUnsafe(valueLen);
    const from = RECORD_HEADER_SIZE + this.matchKeyLen;
    if (!this.matchFetched && this.pool.copyOut(this.table, this.owner, this.matchLsn + from, valueLen, out, 0)) return out;
    if (!this.matchFetched) this.fetchOrRetire(this.matchLsn);
    out.set(this.fetch.bytes.subarray(from, from + valueLen));
    return out;
  }

  private keyEqualsFetched(lsn: number, namespace: number, bytes: Uint8Array, start: number, len: number): boolean {
    this.fetchOrRetire(lsn);
    const fetched = this.fetch.bytes;
    const dv = this.fetch.dv;
    if (dv.getUint32(RECORD.KEY_LEN, true) !== len || dv.getUint32(RECORD.NAMESPACE, true) !== namespace) return false;
    if ((fetched[RECORD.FLAGS]! & RECORD_FLAG_ENCRYPTED) !== 0) return false;
    for (let i = 0; i < len; i++) if (fetched[RECORD_HEADER_SIZE + i] !== bytes[start + i]) return false;
    this.match(lsn, len, dv.getUint32(RECORD.VALUE_LEN, true), readU64(dv, RECORD.EXPIRES_AT), true);
    return true;
  }

  private fetchOrRetire(lsn: number): void {
    this.misses++;
    if (this.fetch.fetch(this.file, lsn) < 0) throw new GenerationRetired();
  }

  private match(lsn: number, keyLen: number, valueLen: number, expiresAt: number, fetched: boolean): void {
    this.matchLsn = lsn;
    this.matchKeyLen = keyLen;
    this.valueLen = valueLen;
    this.expiresAt = expiresAt;
    this.matchFetched = fetched;
  }
}
