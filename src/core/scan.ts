import { RECORD, RECORD_FLAG_ENCRYPTED, RECORD_HEADER_SIZE, AEAD_NONCE_SIZE } from '../format/constants.js';
import { IndexView } from '../shm/index-table.js';
import { SEGMENT_SPAN, SLOT_BASE_WORDS, SLOT_WORDS, SlotWord, TAG_DELETED, TAG_EMPTY } from '../shm/layout.js';
import { lsnOf, MirrorView } from '../shm/mirror.js';

/** What an iterator scans: one index table (never reused once replaced, rule R5) and the mirror. */
export interface ScanSource {
  index: SharedArrayBuffer;
  segments: SharedArrayBuffer[];
}

/**
 * Collects the live entries of namespace `ns` in slots [from, from + count) of
 * the table into one private buffer: count u32, then per entry
 * (keyLen u32, valueLen u32, key, value). Slots are read under their seqlock.
 * Returns the packed entries and the slot after the last one scanned.
 */
export function scanSlots(source: ScanSource, ns: number, from: number, count: number, wantValues: boolean, now: number): { packed: ArrayBuffer; next: number } {
  const index = new IndexView(source.index);
  const mirror = new MirrorView(source.segments);
  const i32 = index.i32;
  const end = Math.min(index.capacity, from + count);
  const found: number[] = [];
  let bytes = 4;
  for (let slot = from; slot < end; slot++) {
    const base = SLOT_BASE_WORDS + slot * SLOT_WORDS;
    let lsn = -1;
    for (;;) {
      const s1 = Atomics.load(i32, base + SlotWord.SEQ);
      if ((s1 & 1) !== 0) continue;
      const tag = Atomics.load(i32, base + SlotWord.TAG);
      const lo = Atomics.load(i32, base + SlotWord.LSN_LO);
      const hi = Atomics.load(i32, base + SlotWord.LSN_HI);
      if (Atomics.load(i32, base + SlotWord.SEQ) !== s1) continue;
      if (tag !== TAG_EMPTY && tag !== TAG_DELETED) lsn = lsnOf(lo, hi);
      break;
    }
    if (lsn < 0) continue;
    const seg = Math.floor(lsn / SEGMENT_SPAN);
    const off = lsn - seg * SEGMENT_SPAN;
    if (!mirror.cover(seg, off + RECORD_HEADER_SIZE)) continue;
    const dv = mirror.dv[seg]!;
    if (dv.getUint32(off + RECORD.NAMESPACE, true) !== ns) continue;
    const expires = dv.getUint32(off + RECORD.EXPIRES_AT, true) + dv.getUint32(off + RECORD.EXPIRES_AT + 4, true) * 0x1_0000_0000;
    if (expires !== 0 && expires <= now) continue;
    const keyLen = dv.getUint32(off + RECORD.KEY_LEN, true);
    const valueLen = wantValues ? dv.getUint32(off + RECORD.VALUE_LEN, true) : 0;
    found.push(lsn);
    bytes += 8 + keyLen + valueLen;
  }
  const packed = new ArrayBuffer(bytes);
  const out = new Uint8Array(packed);
  const odv = new DataView(packed);
  odv.setUint32(0, found.length, true);
  let at = 4;
  for (const lsn of found) {
    const seg = Math.floor(lsn / SEGMENT_SPAN);
    const off = lsn - seg * SEGMENT_SPAN;
    const dv = mirror.dv[seg]!;
    const keyStart = off + RECORD_HEADER_SIZE + ((dv.getUint8(off + RECORD.FLAGS) & RECORD_FLAG_ENCRYPTED) !== 0 ? AEAD_NONCE_SIZE : 0);
    const keyLen = dv.getUint32(off + RECORD.KEY_LEN, true);
    const valueLen = wantValues ? dv.getUint32(off + RECORD.VALUE_LEN, true) : 0;
    mirror.cover(seg, keyStart + keyLen + valueLen);
    const u8 = mirror.u8[seg]!;
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
