import {
  SORTED_ENTRY_HEADER_BYTES,
  SORTED_RUN_HEADER_BYTES,
  SORTED_TAIL_HEADER_BYTES,
  SORTED_TOMBSTONE_HI,
  SortedEntry,
  SortedRunHeader,
  sortedEntryBytes,
} from './layout.js';

const TWO_32 = 0x1_0000_0000;

/** What the writer publishes of the sorted index in every buffer set (layout.ts, S1–S3). */
export interface SortedManifest {
  /** Immutable sorted runs, oldest first; a newer run shadows an older one. */
  runs: SharedArrayBuffer[];
  /** The append-only tail: entries newer than every run, in log order. */
  tail: SharedArrayBuffer;
  /** An iterator fails with ERR_EMDB_SNAPSHOT_TOO_OLD past these (0 = no limit). */
  maxAgeMs: number;
  maxPinnedBytes: number;
  /** Compactions since open: a snapshot of an older epoch pins the mirror it was taken on. */
  epoch: number;
}

let nextBufferId = 1;
/** A new id for a run or tail (SortedRunHeader.ID / SortedTailHeader.ID); only the writer thread makes them. */
export function newBufferId(): number {
  nextBufferId = (nextBufferId + 1) >>> 0 || 1;
  return nextBufferId;
}

export function bufferId(sab: SharedArrayBuffer): number {
  return new DataView(sab).getUint32(4, true);
}

/**
 * A sorted, duplicate-free sequence of entries: a run's own offset table, or
 * the sorted positions of a tail prefix. `offs[i]` is the byte offset of the
 * i-th entry in `u8`.
 */
export interface SortedSource {
  u8: Uint8Array;
  dv: DataView;
  offs: Uint32Array;
  n: number;
}

/** Views of a published run (rule S1: it never changes, so plain reads are safe). */
export function runSource(sab: SharedArrayBuffer): SortedSource {
  const dv = new DataView(sab);
  const n = dv.getUint32(SortedRunHeader.COUNT * 4, true);
  return { u8: new Uint8Array(sab), dv, offs: new Uint32Array(sab, SORTED_RUN_HEADER_BYTES, n), n };
}

export function runCount(sab: SharedArrayBuffer): number {
  return new DataView(sab).getUint32(SortedRunHeader.COUNT * 4, true);
}

export function entryNs(dv: DataView, off: number): number {
  return dv.getUint32(off + SortedEntry.NS, true);
}

export function entryKeyLen(dv: DataView, off: number): number {
  return dv.getUint32(off + SortedEntry.KEY_LEN, true);
}

/** The LSN of the entry's record, or -1 for a removal. */
export function entryLsn(dv: DataView, off: number): number {
  const hi = dv.getUint32(off + SortedEntry.LSN_HI, true);
  if (hi === SORTED_TOMBSTONE_HI) return -1;
  return dv.getUint32(off + SortedEntry.LSN_LO, true) + hi * TWO_32;
}

export function entrySize(dv: DataView, off: number): number {
  return sortedEntryBytes(dv.getUint32(off + SortedEntry.KEY_LEN, true));
}

/** Orders two entries by (namespace, key bytes unsigned). */
export function compareEntries(a: Uint8Array, adv: DataView, ao: number, b: Uint8Array, bdv: DataView, bo: number): number {
  const an = adv.getUint32(ao, true);
  const bn = bdv.getUint32(bo, true);
  if (an !== bn) return an < bn ? -1 : 1;
  const al = adv.getUint32(ao + SortedEntry.KEY_LEN, true);
  const bl = bdv.getUint32(bo + SortedEntry.KEY_LEN, true);
  const n = al < bl ? al : bl;
  const i = ao + SORTED_ENTRY_HEADER_BYTES;
  const j = bo + SORTED_ENTRY_HEADER_BYTES;
  for (let k = 0; k < n; k++) {
    const x = a[i + k]!;
    const y = b[j + k]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return al - bl;
}

/** Orders an entry against (ns, key[start, start + len)). */
export function compareEntryKey(u8: Uint8Array, dv: DataView, off: number, ns: number, key: Uint8Array, start: number, len: number): number {
  const en = dv.getUint32(off, true);
  if (en !== ns) return en < ns ? -1 : 1;
  const el = dv.getUint32(off + SortedEntry.KEY_LEN, true);
  const n = el < len ? el : len;
  const i = off + SORTED_ENTRY_HEADER_BYTES;
  for (let k = 0; k < n; k++) {
    const x = u8[i + k]!;
    const y = key[start + k]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return el - len;
}

/**
 * First position whose entry is >= (ns, key) (or > when `after`). A missing key
 * means the namespace's lowest end (or, with `after`, past its highest end).
 */
export function seek(src: SortedSource, ns: number, key: Uint8Array | undefined, after: boolean): number {
  let lo = 0;
  let hi = src.n;
  const { u8, dv, offs } = src;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const off = offs[mid]!;
    let c: number;
    if (key === undefined) {
      const en = dv.getUint32(off, true);
      c = en < ns ? -1 : en > ns ? 1 : after ? -1 : 1;
    } else {
      c = compareEntryKey(u8, dv, off, ns, key, 0, key.length);
      if (c === 0) c = after ? -1 : 1;
    }
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Sorted, de-duplicated positions of the first `count` tail entries, the
 * newest entry of a key winning. `prev` (the same tail at a smaller count,
 * already sorted) is reused: only the entries after it are sorted and merged.
 */
export function sortTail(u8: Uint8Array, dv: DataView, count: number, prev?: { count: number; src: SortedSource; end: number }): { src: SortedSource; end: number } {
  let off = prev ? prev.end : SORTED_TAIL_HEADER_BYTES;
  const fresh: number[] = [];
  for (let i = prev ? prev.count : 0; i < count; i++) {
    fresh.push(off);
    off += entrySize(dv, off);
  }
  // Array#sort is stable: equal keys keep log order, and the last of them wins.
  fresh.sort((a, b) => compareEntries(u8, dv, a, u8, dv, b));
  const newer: number[] = [];
  for (let i = 0; i < fresh.length; i++) {
    const next = fresh[i + 1];
    if (next !== undefined && compareEntries(u8, dv, fresh[i]!, u8, dv, next) === 0) continue;
    newer.push(fresh[i]!);
  }
  if (!prev || prev.src.n === 0) return { src: { u8, dv, offs: Uint32Array.from(newer), n: newer.length }, end: off };
  const old = prev.src.offs;
  const out = new Uint32Array(old.length + newer.length);
  let i = 0;
  let j = 0;
  let n = 0;
  while (i < old.length || j < newer.length) {
    if (j >= newer.length) out[n++] = old[i++]!;
    else if (i >= old.length) out[n++] = newer[j++]!;
    else {
      const c = compareEntries(u8, dv, old[i]!, u8, dv, newer[j]!);
      if (c < 0) out[n++] = old[i++]!;
      else if (c > 0) out[n++] = newer[j++]!;
      else {
        out[n++] = newer[j++]!;
        i++;
      }
    }
  }
  return { src: { u8, dv, offs: out.subarray(0, n), n }, end: off };
}

/**
 * Merges sources (newest first) into one new run: the newest entry of each key
 * wins; removals are dropped when `dropRemovals` (the result is the oldest run,
 * nothing below it to shadow). `relocate`, when given, maps an entry to its
 * new LSN (-1 drops it): compaction moves every record.
 */
export function mergeToRun(
  sources: SortedSource[],
  dropRemovals: boolean,
  relocate?: (u8: Uint8Array, dv: DataView, off: number) => number,
): SharedArrayBuffer {
  const s = sources.length;
  const pos = new Array<number>(s).fill(0);
  const pickSrc: number[] = [];
  const pickOff: number[] = [];
  const pickLsn: number[] = [];
  let bytes = 0;
  for (;;) {
    let best = -1;
    for (let k = 0; k < s; k++) {
      const src = sources[k]!;
      if (pos[k]! >= src.n) continue;
      if (best < 0) {
        best = k;
        continue;
      }
      const b = sources[best]!;
      const c = compareEntries(src.u8, src.dv, src.offs[pos[k]!]!, b.u8, b.dv, b.offs[pos[best]!]!);
      if (c < 0) best = k;
    }
    if (best < 0) break;
    const b = sources[best]!;
    const off = b.offs[pos[best]!]!;
    // Skip the same key in older sources (higher index; equal keys in newer ones were not smaller).
    for (let k = 0; k < s; k++) {
      if (k === best) continue;
      const src = sources[k]!;
      if (pos[k]! < src.n && compareEntries(src.u8, src.dv, src.offs[pos[k]!]!, b.u8, b.dv, off) === 0) pos[k]!++;
    }
    pos[best]!++;
    let lsn = entryLsn(b.dv, off);
    if (lsn >= 0 && relocate) lsn = relocate(b.u8, b.dv, off);
    if (lsn < 0 && (dropRemovals || relocate)) continue;
    pickSrc.push(best);
    pickOff.push(off);
    pickLsn.push(lsn);
    bytes += entrySize(b.dv, off);
  }
  const n = pickOff.length;
  const dataStart = SORTED_RUN_HEADER_BYTES + n * 4;
  const sab = new SharedArrayBuffer(dataStart + bytes);
  const u8 = new Uint8Array(sab);
  const dv = new DataView(sab);
  dv.setUint32(SortedRunHeader.COUNT * 4, n, true);
  dv.setUint32(SortedRunHeader.ID * 4, newBufferId(), true);
  let at = dataStart;
  for (let i = 0; i < n; i++) {
    const src = sources[pickSrc[i]!]!;
    const off = pickOff[i]!;
    const size = entrySize(src.dv, off);
    dv.setUint32(SORTED_RUN_HEADER_BYTES + i * 4, at, true);
    u8.set(src.u8.subarray(off, off + size), at);
    const lsn = pickLsn[i]!;
    dv.setUint32(at + SortedEntry.LSN_LO, lsn < 0 ? 0 : lsn >>> 0, true);
    dv.setUint32(at + SortedEntry.LSN_HI, lsn < 0 ? SORTED_TOMBSTONE_HI : Math.floor(lsn / TWO_32), true);
    at += size;
  }
  return sab;
}
