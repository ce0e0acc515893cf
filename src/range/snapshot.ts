import { EmdbError, ErrorCode } from '../errors.js';
import { RECORD_HEADER_SIZE } from '../format/constants.js';
import { recordExpiresAt, recordKeyStart, recordValueLen } from '../format/record-fields.js';
import { Ctl32, SORTED_ENTRY_HEADER_BYTES, SortedTailHeader } from '../shm/layout.js';
import { testMutant } from '../mutants.js';
import { MirrorView } from '../shm/mirror.js';
import { pinGeneration } from '../shm/framed-mirror.js';
import type { SharedView } from '../shm/shared-view.js';
import { bufferId, compareEntryKey, mergeHead, entryKeyLen, entryLsn, entryNs, runSource, seek, sortTail, type SortedManifest, type SortedSource } from '../shm/sorted-run.js';


/** A range as the scan needs it. */
export interface RangeQuery {
  lower: Bound;
  upper: Bound;
  reverse: boolean;
  limit: number;
}

/** Planted mutant 'iter-expired' (src/mutants.ts), read once at load. */
const SKIP_EXPIRED = testMutant.name !== 'iter-expired';
/** A writer that keeps publishing faster than we can capture: give up rather than spin forever. */
const MAX_CAPTURE_TRIES = 10_000;

/**
 * What one range iterator reads: the sorted runs and the tail prefix published
 * when it was created, and the mirror of the same generation. Everything in it
 * is immutable (rules S1–S3, R3, R5), so it needs no lock and the writer never
 * waits for it; it only keeps those buffers alive (docs/DESIGN.md, "Range scans").
 */
export interface RangeSnapshot {
  generation: number;
  /** Newest first: the sorted tail prefix, then the runs newest to oldest. */
  sources: SortedSource[];
  /** Tail entries in the snapshot (rule S2). */
  tailCount: number;
  mirror: MirrorView;
  manifest: SortedManifest;
  createdAt: number;
}

/** Per thread: views of published runs, and the sorted prefix of each tail seen. */
const runCache = new WeakMap<SharedArrayBuffer, SortedSource>();
const tailCache = new WeakMap<SharedArrayBuffer, { count: number; src: SortedSource; end: number }>();

function cachedRun(sab: SharedArrayBuffer): SortedSource {
  let src = runCache.get(sab);
  if (!src) runCache.set(sab, (src = runSource(sab)));
  return src;
}

function sortedTail(tail: SharedArrayBuffer, count: number): SortedSource {
  const prev = tailCache.get(tail);
  if (prev && prev.count === count) return prev.src;
  const len = tail.byteLength;
  const u8 = new Uint8Array(tail, 0, len);
  const dv = new DataView(tail, 0, len);
  const next = sortTail(u8, dv, count, prev && prev.count < count ? prev : undefined);
  tailCache.set(tail, { count, ...next });
  return next.src;
}

/** Sorted sources of a manifest with `tailCount` tail entries: newest first. */
export function snapshotSources(manifest: SortedManifest, tailCount: number): SortedSource[] {
  const sources = [sortedTail(manifest.tail, tailCount)];
  for (let i = manifest.runs.length - 1; i >= 0; i--) sources.push(cachedRun(manifest.runs[i]!));
  return sources;
}

/** Takes a snapshot on the calling thread, with no message to the writer. */
export function captureSnapshot(view: SharedView): RangeSnapshot {
  for (let tries = 0; tries < MAX_CAPTURE_TRIES; tries++) {
    view.sync();
    const manifest = view.sorted;
    if (!view.index || !view.mirror) break;
    if (!manifest) throw new EmdbError(ErrorCode.RANGE_SCANS_DISABLED, 'range queries need the database opened with rangeScans: true');
    const generation = view.generation;
    const count = Atomics.load(new Int32Array(manifest.tail, 0, 1), SortedTailHeader.COUNT);
    // Rule S3: no newer generation published means we hold every buffer these entries
    // refer to. The view may be one ahead of GENERATION: the writer posts a set before it
    // stores its number (rule R4), so between the two the set we received is already the
    // newest. Demanding equality there spun until the writer thread ran again, and a
    // writer descheduled at that point (a loaded machine) made the capture fail.
    if (Atomics.load(view.ctl32, Ctl32.GENERATION) > generation) continue;
    const snap: RangeSnapshot = { generation, sources: snapshotSources(manifest, count), tailCount: count, mirror: view.mirror, manifest, createdAt: Date.now() };
    // G2: a log read through frames keeps its descriptor while the snapshot lives (released when it is collected).
    if (!pinGeneration(snap, view.mirror)) continue;
    return snap;
  }
  throw new EmdbError(ErrorCode.IO, 'could not take a consistent snapshot of the sorted index');
}

/** One end of a range: undefined key = that end of the namespace. */
export interface Bound {
  key: Uint8Array | undefined;
  exclusive: boolean;
}

export interface Chunk {
  /** count u32, then per entry keyLen u32, valueLen u32, key, value (core/scan.ts unpackScan). */
  packed: ArrayBuffer;
  count: number;
  /** The last key examined: resume strictly after it (before it, reversed). */
  last: Uint8Array | undefined;
  /** Nothing is left in the range. */
  done: boolean;
}

/**
 * Per-thread scratch of collectRange (which never yields, so one call at a
 * time): the candidates of a batch (source, entry offset, LSN), grown on demand.
 */
let candSrc = new Int32Array(128);
let candOff = new Float64Array(128);
let candLsn = new Float64Array(128);
/** Where the value of a picked entry starts in its mirror segment, and its length. */
let candVal = new Float64Array(128);
let candLen = new Int32Array(128);
/** The touch pass's sum, stored so that the compiler keeps its loads. */
export const touchSink = { sum: 0 };

function ensureScratch(n: number): void {
  if (candSrc.length >= n) return;
  const size = Math.max(n, candSrc.length * 2);
  // The picked entries of the current call are kept.
  const grow = <T extends Int32Array | Float64Array>(a: T, b: T): T => (b.set(a), b);
  candSrc = grow(candSrc, new Int32Array(size));
  candOff = grow(candOff, new Float64Array(size));
  candLsn = grow(candLsn, new Float64Array(size));
  candVal = grow(candVal, new Float64Array(size));
  candLen = grow(candLen, new Int32Array(size));
}

/**
 * Up to `max` live entries of namespace `ns` within [lower, upper], in key
 * order (descending when `reverse`), from the snapshot: a k-way merge of its
 * sources, the newest version of a key winning, removals and expired records
 * skipped. Keys are compared inline; only yielded entries touch the mirror.
 *
 * Why in passes: the records of consecutive keys lie anywhere in the log, so
 * the first read of each is a cache (and TLB) miss. The merge first picks a
 * batch of candidates without touching the log, then one tight loop reads a
 * byte of each record (independent loads, so the CPU overlaps their misses
 * instead of waiting for them one entry at a time), and only then are the
 * records checked and copied, from cache.
 */
export function collectRange(snap: RangeSnapshot, ns: number, lower: Bound, upper: Bound, reverse: boolean, max: number, values: boolean, now: number): Chunk {
  const sources = snap.sources;
  const s = sources.length;
  const pos = new Array<number>(s);
  for (let k = 0; k < s; k++) {
    const src = sources[k]!;
    pos[k] = reverse ? seek(src, ns, upper.key, upper.key === undefined || !upper.exclusive) - 1 : seek(src, ns, lower.key, lower.key !== undefined && lower.exclusive);
  }
  const mirror = snap.mirror;
  // Picked entries (live, in order) are compacted at the front of the scratch arrays.
  let n = 0;
  let bytes = 4;
  let lastSrc: SortedSource | undefined;
  let lastOff = 0;
  let done = false;
  const step = reverse ? -1 : 1;
  // Sources that are equal to the current best (older versions of the same key), found in the same pass.
  const ties = new Int32Array(s + 1);
  const batch = Math.min(max, 1024);
  while (n < max && !done) {
    ensureScratch(n + batch);
    // Pass 1: the merge, up to a batch of candidates (removals skipped), log untouched.
    const first = n;
    let c = n;
    const want = Math.min(max, n + batch);
    while (c < want) {
      const best = mergeHead(sources, pos, ties, reverse);
      const bestSrc = best < 0 ? undefined : sources[best]!;
      const bestOff = bestSrc ? bestSrc.offs[pos[best]!]! : 0;
      if (bestSrc === undefined || entryNs(bestSrc.dv, bestOff) !== ns || outside(bestSrc, bestOff, ns, reverse ? lower : upper, reverse)) {
        done = true;
        break;
      }
      // Sources are newest first and ties only replace on a strictly better key, so `best` is the newest version.
      for (let t = 0; ties[t]! >= 0; t++) pos[ties[t]!] = pos[ties[t]!]! + step;
      pos[best] = pos[best]! + step;
      lastSrc = bestSrc;
      lastOff = bestOff;
      const lsn = entryLsn(bestSrc.dv, bestOff);
      if (lsn < 0) continue;
      candSrc[c] = best;
      candOff[c] = bestOff;
      candLsn[c] = lsn;
      c++;
    }
    // Pass 2: touch each record's header (the loads do not depend on each other).
    let sum = 0;
    for (let i = first; i < c; i++) {
      const lsn = candLsn[i]!;
      // A lazily opened log: pages of the records about to be read are loaded first (shm/lazy-pages.ts).
      const off = mirror.recordAt(lsn);
      const u8 = mirror.recU8;
      if (off < u8.length) sum += u8[off]!;
    }
    touchSink.sum = sum;
    // Pass 3: checks and sizes, from cache; survivors are compacted in place.
    for (let i = first; i < c; i++) {
      const lsn = candLsn[i]!;
      // Loaded by pass 2.
      const off = mirror.residentRecordAt(lsn);
      if (!mirror.coverRecord(off + RECORD_HEADER_SIZE)) continue;
      const dv = mirror.recDv;
      // Encrypted files keep the expiry after the nonce, decrypted in the mirror (record-fields.ts knows where).
      if (!mirror.coverRecord(recordKeyStart(dv, off))) continue;
      const expires = recordExpiresAt(dv, off);
      if (expires !== 0 && expires <= now && SKIP_EXPIRED) continue;
      const keyLen = entryKeyLen(sources[candSrc[i]!]!.dv, candOff[i]!);
      let valueLen = 0;
      if (values) {
        valueLen = recordValueLen(dv, off);
        const start = recordKeyStart(dv, off);
        if (!mirror.coverRecord(start + keyLen + valueLen)) continue;
        candVal[n] = start;
      }
      bytes += 8 + keyLen + valueLen;
      candSrc[n] = candSrc[i]!;
      candOff[n] = candOff[i]!;
      candLsn[n] = lsn;
      candLen[n] = valueLen;
      n++;
    }
  }
  const packed = new ArrayBuffer(bytes);
  const out = new Uint8Array(packed);
  const odv = new DataView(packed);
  odv.setUint32(0, n, true);
  let at = 4;
  for (let i = 0; i < n; i++) {
    const src = sources[candSrc[i]!]!;
    const eoff = candOff[i]!;
    const keyLen = entryKeyLen(src.dv, eoff);
    const valueLen = candLen[i]!;
    odv.setUint32(at, keyLen, true);
    odv.setUint32(at + 4, valueLen, true);
    if (values) {
      // The record holds the key and then the value: one copy of both (the mirror's key equals the entry's).
      const start = candVal[i]!;
      mirror.residentRecordAt(candLsn[i]!);
      out.set(mirror.recU8.subarray(start, start + keyLen + valueLen), at + 8);
    } else {
      out.set(src.u8.subarray(eoff + SORTED_ENTRY_HEADER_BYTES, eoff + SORTED_ENTRY_HEADER_BYTES + keyLen), at + 8);
    }
    at += 8 + keyLen + valueLen;
  }
  let lastKey: Uint8Array | undefined;
  if (lastSrc) {
    const len = entryKeyLen(lastSrc.dv, lastOff);
    lastKey = lastSrc.u8.slice(lastOff + SORTED_ENTRY_HEADER_BYTES, lastOff + SORTED_ENTRY_HEADER_BYTES + len);
  }
  return { packed, count: n, last: lastKey, done };
}

/** True when the entry lies past `bound` in the direction of travel. */
function outside(src: SortedSource, off: number, ns: number, bound: Bound, reverse: boolean): boolean {
  if (bound.key === undefined) return false;
  const c = compareEntryKey(src.u8, src.dv, off, ns, bound.key, 0, bound.key.length);
  if (testMutant.name === 'exclusive-end' && c === 0) return false;
  if (reverse) return c < 0 || (c === 0 && bound.exclusive);
  return c > 0 || (c === 0 && bound.exclusive);
}

/**
 * Bytes of shared buffers this snapshot keeps alive that the database's
 * current generation no longer uses (retired runs and tails; after a
 * compaction, the old mirror): what ERR_EMDB_SNAPSHOT_TOO_OLD limits.
 */
export function pinnedBytes(snap: RangeSnapshot, view: SharedView): number {
  const now = view.sorted;
  if (view.generation === snap.generation || !now) return 0;
  const live = new Set<number>([bufferId(now.tail), ...now.runs.map(bufferId)]);
  let bytes = 0;
  for (const b of [snap.manifest.tail, ...snap.manifest.runs]) if (!live.has(bufferId(b))) bytes += b.byteLength;
  if (now.epoch !== snap.manifest.epoch) for (const b of snap.mirror.buffers) bytes += b.byteLength;
  return bytes;
}
