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

/** This thread's buffer the entries are gathered in before their exact-size copy is returned (reused: no garbage per chunk). */
let scanScratch = new Uint8Array(64 * 1024);

/**
 * The LSNs of the occupied slots [from, from + count) of the table, ascending
 * (an iteration's list for one window of slots; slots read under their
 * seqlock, IndexView.readSlot). The records are then read in log order
 * (scanLsns): through the page cache a slot's record is anywhere in the log,
 * and in log order the records of one page, or one sealed unit of an
 * encrypted log, are read together, one pread or one unit opened for all of
 * them. A window of many slots spreads over fewer units per record: listing
 * 2^19 slots at a time, a full iteration of 1,000,000 encrypted records with a
 * small cache opens each unit a few times, not once per record.
 */
export function listLsns(source: ScanSource, from: number, count: number): Float64Array {
  const index = new IndexView(source.index);
  const end = Math.min(index.capacity, from + count);
  let lsns = new Float64Array(Math.min(end - from, 4096));
  let n = 0;
  for (let slot = from; slot < end; slot++) {
    const tag = index.readSlot(slot);
    if (tag === TAG_EMPTY || tag === TAG_DELETED) continue;
    if (n === lsns.length) {
      const grown = new Float64Array(Math.min(end - from, lsns.length * 2));
      grown.set(lsns);
      lsns = grown;
    }
    lsns[n++] = index.slotLsn;
  }
  return lsns.slice(0, n).sort();
}

/**
 * Collects the live entries of namespace `ns` among the records at `lsns`
 * (listLsns' order) into one private buffer: count u32, then per entry
 * (keyLen u32, valueLen u32, key, value). A record is what its key held when
 * the list was made: the log is append-only and the iterator pins the
 * generation (G2), so a later overwrite or removal does not change it.
 */
export function scanLsns(source: ScanSource, ns: number, lsns: Float64Array, wantValues: boolean, now: number): ArrayBuffer {
  const mirror = mirrorViewOf(source);
  let out = scanScratch;
  let odv = new DataView(out.buffer);
  let at = 4;
  let n = 0;
  for (const lsn of lsns) {
    const off = mirror.recordAt(lsn);
    if (!mirror.coverRecord(off + RECORD_HEADER_SIZE)) continue;
    const dv = mirror.recDv;
    if (recordNamespace(dv, off) !== ns) continue;
    const expires = recordExpiresAt(dv, off);
    if (SKIP_EXPIRED && expires !== 0 && expires <= now) continue;
    const keyStart = recordKeyStart(dv, off);
    const keyLen = recordKeyLen(dv, off);
    const valueLen = wantValues ? recordValueLen(dv, off) : 0;
    mirror.coverRecord(keyStart + keyLen + valueLen);
    const need = at + 8 + keyLen + valueLen;
    if (need > out.length) {
      const grown = new Uint8Array(Math.max(need, out.length * 2));
      grown.set(out.subarray(0, at));
      out = scanScratch = grown;
      odv = new DataView(out.buffer);
    }
    odv.setUint32(at, keyLen, true);
    odv.setUint32(at + 4, valueLen, true);
    out.set(mirror.recU8.subarray(keyStart, keyStart + keyLen + valueLen), at + 8);
    at = need;
    n++;
  }
  odv.setUint32(0, n, true);
  return out.buffer.slice(0, at);
}

/** listLsns then scanLsns in one call (a whole table at once: the test harnesses' reads of an engine's state). */
export function scanSlots(source: ScanSource, ns: number, from: number, count: number, wantValues: boolean, now: number): { packed: ArrayBuffer } {
  return { packed: scanLsns(source, ns, listLsns(source, from, count), wantValues, now) };
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
