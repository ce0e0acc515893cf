import {
  SORTED_ENTRY_HEADER_BYTES,
  SORTED_RUN_HEADER_BYTES,
  SORTED_TAIL_HEADER_BYTES,
  SORTED_TOMBSTONE_HI,
  SortedEntry,
  SortedRunHeader,
  sortedEntryBytes,
} from './layout.js';
import { allocateRun, runOfSource, setRunId, sortedUnique } from './sorted-sort.js';

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

/** Orders two entries by (namespace, key bytes unsigned): entry b read as the (ns, key) compareEntryKey takes. */
export function compareEntries(a: Uint8Array, adv: DataView, ao: number, b: Uint8Array, bdv: DataView, bo: number): number {
  const bn = bdv.getUint32(bo + SortedEntry.NS, true);
  const bl = bdv.getUint32(bo + SortedEntry.KEY_LEN, true);
  return compareEntryKey(a, adv, ao, bn, b, bo + SORTED_ENTRY_HEADER_BYTES, bl);
}

/** Orders an entry against (ns, key[start, start + len)). */
export function compareEntryKey(u8: Uint8Array, dv: DataView, off: number, ns: number, key: Uint8Array, start: number, len: number): number {
  const en = dv.getUint32(off + SortedEntry.NS, true);
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
  const from = prev ? prev.count : 0;
  const fresh = new Uint32Array(count - from);
  for (let i = 0; i < fresh.length; i++) {
    fresh[i] = off;
    off += entrySize(dv, off);
  }
  const newer = sortedUnique(u8, dv, fresh);
  if (!prev || prev.src.n === 0) return { src: { u8, dv, offs: newer, n: newer.length }, end: off };
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
 * One step of a k-way merge: the source whose entry at `pos[k]` is the least
 * (the greatest when `reverse`), -1 when every source is exhausted. Sources
 * holding an equal key (older versions, as sources are newest first and only a
 * strictly better key replaces the best) are listed in `ties` (length at least
 * sources + 1), ended by -1.
 */
export function mergeHead(sources: readonly SortedSource[], pos: readonly number[], ties: Int32Array, reverse: boolean): number {
  let best = -1;
  let bestSrc: SortedSource | undefined;
  let bestOff = 0;
  let nTies = 0;
  for (let k = 0; k < sources.length; k++) {
    const src = sources[k]!;
    const p = pos[k]!;
    if (p < 0 || p >= src.n) continue;
    const off = src.offs[p]!;
    if (bestSrc === undefined) {
      best = k;
      bestSrc = src;
      bestOff = off;
      continue;
    }
    const c = compareEntries(src.u8, src.dv, off, bestSrc.u8, bestSrc.dv, bestOff);
    if (c === 0) ties[nTies++] = k;
    else if (reverse ? c > 0 : c < 0) {
      best = k;
      bestSrc = src;
      bestOff = off;
      nTies = 0;
    }
  }
  ties[nTies] = -1;
  return best;
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
  // One source (a sorted tail becoming a run): nothing to merge, a straight copy.
  const only = sources.length === 1 && !relocate ? sources[0]! : undefined;
  if (only) return runOfSource(only.u8, only.dv, only.offs, only.n, dropRemovals, newBufferId());
  const merger = new RunMerger(sources, dropRemovals, relocate);
  merger.step(Infinity);
  return merger.result();
}

/** The merge checks the clock every this many entries. */
const CLOCK_EVERY_ENTRIES = 1024;

/**
 * mergeToRun in steps (sorted-writer.ts merges large runs between write
 * requests): the sources are immutable runs, so a merge can stop after any
 * entry and go on later; the result is built in private memory and exists for
 * readers only once result() has copied it into a shared buffer.
 */
export class RunMerger {
  private readonly pos: number[];
  /** Entries are 4-byte aligned in runs and tails alike, so they are copied a word at a time. */
  private readonly words: Int32Array[];
  private readonly tmp: Int32Array;
  private readonly tdv: DataView;
  private readonly offs: Uint32Array;
  private readonly ties: Int32Array;
  private n = 0;
  private at = 0;

  constructor(
    private readonly sources: SortedSource[],
    private readonly dropRemovals: boolean,
    private readonly relocate?: (u8: Uint8Array, dv: DataView, off: number) => number,
  ) {
    this.pos = new Array<number>(sources.length).fill(0);
    this.words = sources.map((src) => new Int32Array(src.u8.buffer, src.u8.byteOffset, src.u8.byteLength >>> 2));
    let upper = 0;
    let most = 0;
    for (const src of sources) {
      upper += src.u8.byteLength;
      most += src.n;
    }
    this.tmp = new Int32Array(upper >>> 2);
    this.tdv = new DataView(this.tmp.buffer);
    this.offs = new Uint32Array(most);
    this.ties = new Int32Array(sources.length + 1);
  }

  /** Merges until every source is consumed (true) or `deadline` (performance.now()) has passed (false). */
  step(deadline: number): boolean {
    const { sources, pos, ties, words, tmp, tdv, offs, relocate, dropRemovals } = this;
    for (let k = 1; ; k++) {
      const best = mergeHead(sources, pos, ties, false);
      if (best < 0) return true;
      const b = sources[best]!;
      const off = b.offs[pos[best]!]!;
      // Older versions of the same key (later sources) are skipped.
      for (let t = 0; ties[t]! >= 0; t++) pos[ties[t]!]!++;
      pos[best]!++;
      let lsn = entryLsn(b.dv, off);
      if (lsn >= 0 && relocate) lsn = relocate(b.u8, b.dv, off);
      if (lsn >= 0 || !(dropRemovals || relocate)) {
        const size = entrySize(b.dv, off);
        const at = this.at;
        const from = off >>> 2;
        const to = at >>> 2;
        const w = words[best]!;
        for (let i = 0; i < size >>> 2; i++) tmp[to + i] = w[from + i]!;
        tdv.setUint32(at + SortedEntry.LSN_LO, lsn < 0 ? 0 : lsn >>> 0, true);
        tdv.setUint32(at + SortedEntry.LSN_HI, lsn < 0 ? SORTED_TOMBSTONE_HI : Math.floor(lsn / TWO_32), true);
        offs[this.n++] = at;
        this.at = at + size;
      }
      if (k % CLOCK_EVERY_ENTRIES === 0 && performance.now() >= deadline) return false;
    }
  }

  /** The merged run, in an exactly sized shared buffer (after step() returned true). */
  result(): SharedArrayBuffer {
    const { n, at, offs } = this;
    const { sab, table, dataStart } = allocateRun(n, at);
    for (let i = 0; i < n; i++) table[i] = offs[i]! + dataStart;
    new Uint8Array(sab, dataStart, at).set(new Uint8Array(this.tmp.buffer, 0, at));
    setRunId(sab, newBufferId());
    return sab;
  }
}
