import { RECORD_HEADER_SIZE } from '../format/constants.js';
import { recordExpiresAt, recordKeyLen, recordKeyStart, recordNamespace, recordValueLen } from '../format/record-fields.js';
import { IndexView } from './index-table.js';
import { TAG_DELETED, TAG_EMPTY } from './layout.js';
import type { LazySpec } from './lazy-pages.js';
import { mirrorViewOf, type FramedSpec } from './framed-mirror.js';
import { testMutant } from '../mutants.js';

const SKIP_EXPIRED = testMutant.name !== 'iter-expired';

/** What an iterator scans: one index table (never reused once replaced, rule R5) and the mirror. */
export interface ScanSource {
  index: SharedArrayBuffer;
  segments: SharedArrayBuffer[];
  lazy?: LazySpec;
  framed?: FramedSpec;
}

/**
 * Collects the live entries of namespace `ns` in slots [from, from + count) of
 * the table into one private buffer: count u32, then per entry
 * (keyLen u32, valueLen u32, key, value). Slots are read under their seqlock
 * (IndexView.readSlot, bounded like a lookup's).
 * Returns the packed entries and the slot after the last one scanned.
 */
export function scanSlots(source: ScanSource, ns: number, from: number, count: number, wantValues: boolean, now: number): { packed: ArrayBuffer; next: number } {
  const index = new IndexView(source.index);
  const mirror = mirrorViewOf(source);
  const end = Math.min(index.capacity, from + count);
  const found: number[] = [];
  let bytes = 4;
  for (let slot = from; slot < end; slot++) {
    const tag = index.readSlot(slot);
    if (tag === TAG_EMPTY || tag === TAG_DELETED) continue;
    const lsn = index.slotLsn;
    const off = mirror.recordAt(lsn);
    if (!mirror.coverRecord(off + RECORD_HEADER_SIZE)) continue;
    const dv = mirror.recDv;
    if (recordNamespace(dv, off) !== ns) continue;
    const expires = recordExpiresAt(dv, off);
    if (SKIP_EXPIRED && expires !== 0 && expires <= now) continue;
    const valueLen = wantValues ? recordValueLen(dv, off) : 0;
    found.push(lsn);
    bytes += 8 + recordKeyLen(dv, off) + valueLen;
  }
  const packed = new ArrayBuffer(bytes);
  const out = new Uint8Array(packed);
  const odv = new DataView(packed);
  odv.setUint32(0, found.length, true);
  let at = 4;
  for (const lsn of found) {
    // Loaded by the pass above.
    const off = mirror.residentRecordAt(lsn);
    const dv = mirror.recDv;
    const keyStart = recordKeyStart(dv, off);
    const keyLen = recordKeyLen(dv, off);
    const valueLen = wantValues ? recordValueLen(dv, off) : 0;
    mirror.coverRecord(keyStart + keyLen + valueLen);
    const u8 = mirror.recU8;
    odv.setUint32(at, keyLen, true);
    odv.setUint32(at + 4, valueLen, true);
    out.set(u8.subarray(keyStart, keyStart + keyLen + valueLen), at + 8);
    at += 8 + keyLen + valueLen;
  }
  return { packed, next: end };
}

/** Splits a packed scan result into [key, value bytes] views of its buffer. */
export function* unpackScan(packed: ArrayBuffer): Generator<[Buffer, Buffer]> {
  const dv = new DataView(packed);
  const n = dv.getUint32(0, true);
  let at = 4;
  for (let i = 0; i < n; i++) {
    const keyLen = dv.getUint32(at, true);
    const valueLen = dv.getUint32(at + 4, true);
    yield [Buffer.from(packed, at + 8, keyLen), Buffer.from(packed, at + 8 + keyLen, valueLen)];
    at += 8 + keyLen + valueLen;
  }
}

export function tableCapacity(index: SharedArrayBuffer): number {
  return new IndexView(index).capacity;
}
