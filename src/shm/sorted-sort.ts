import { SORTED_ENTRY_HEADER_BYTES, SORTED_TOMBSTONE_HI, SortedEntry, SortedRunHeader, SORTED_RUN_HEADER_BYTES, sortedEntryBytes } from './layout.js';

/**
 * Sorting a tail's entries and building a run from one sorted source: the
 * writer does both inside write batches (a full tail) and readers sort the
 * tail of every snapshot, often in a thread whose JIT has not warmed up yet
 * (each writer and reader is a fresh isolate), so the per-entry work here is a
 * few typed-array reads; ordering is done by native Float64Array sorts.
 */

/**
 * Position within a group, packed under a sort value: a tail holds fewer than
 * 2^26 entries (SORTED_TAIL_MAX_BYTES / 16-byte minimum entry), and a value
 * (3 key bytes * 5 + length class) is < 2^27, so value * 2^26 + position
 * < 2^53 is exact in a double.
 */
const POS = 0x400_0000;
/** Key bytes compared per pass: 24 bits of key, 3 of length class, 26 of position fit in a double. */
const STEP = 3;

/**
 * Entry offsets sorted by (namespace, key bytes unsigned), and of each run of
 * equal keys only the last (the newest, as `offs` is in log order) kept.
 * Stable MSD passes: one native sort per group of entries that agree on
 * every key byte so far, then the groups that still tie are refined by the
 * next 3 bytes; a group that agrees on the pass's bytes is not sorted at all
 * (long shared prefixes and already ordered keys cost a scan per pass).
 */
export function sortedUnique(u8: Uint8Array, dv: DataView, offs: Uint32Array): Uint32Array {
  return drain(sortedUniqueSteps(u8, dv, offs, UNBOUNDED));
}

/**
 * A deadline (performance.now()) shared with a stepped job: the writer sorts a
 * large tail between requests, and a step ends at the first check past it
 * (every STEP_CHECK entries of a pass; a native sort is never cut).
 */
export interface StepBudget {
  deadline: number;
}
const UNBOUNDED: StepBudget = { deadline: Infinity };
/** Entries handled between two looks at the clock. */
const STEP_CHECK = 1024;

function pastDeadline(budget: StepBudget): boolean {
  return budget.deadline !== Infinity && performance.now() >= budget.deadline;
}

/** pastDeadline, looked at once every STEP_CHECK entries of a loop over `i`. */
function due(budget: StepBudget, i: number): boolean {
  return (i & (STEP_CHECK - 1)) === STEP_CHECK - 1 && pastDeadline(budget);
}

export function drain<T>(steps: Generator<void, T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** sortedUnique in steps: yields whenever `budget.deadline` has passed. */
export function* sortedUniqueSteps(u8: Uint8Array, dv: DataView, offs: Uint32Array, budget: StepBudget): Generator<void, Uint32Array> {
  const n = offs.length;
  if (n < 2) return offs.slice();
  const order = offs.slice();
  /** dup[i] = 1: order[i] has the same key as order[i + 1] (the older of the two, dropped). */
  const dup = new Uint8Array(n);
  const packed = new Float64Array(n);
  const tmp = new Uint32Array(n);
  // Groups to refine: [lo, hi, depth in key bytes], as a stack.
  const stack: number[] = [];
  sortByNamespace(dv, order, packed, tmp, stack);
  let done = 0;
  while (stack.length > 0) {
    const depth = stack.pop()!;
    const hi = stack.pop()!;
    const lo = stack.pop()!;
    const m = hi - lo;
    let same = true;
    let first = -1;
    for (let i = 0; i < m; i++) {
      const v = passValue(u8, dv, order[lo + i]!, depth);
      if (first < 0) first = v;
      else if (v !== first) same = false;
      packed[i] = v * POS + i;
      if (due(budget, i)) yield;
    }
    if (!same) {
      const p = packed.subarray(0, m).sort();
      if (m >= STEP_CHECK && pastDeadline(budget)) yield;
      for (let i = 0; i < m; i++) tmp[i] = order[lo + (p[i]! % POS)]!;
      order.set(tmp.subarray(0, m), lo);
    }
    for (let i = 0; i < m; ) {
      const v = Math.floor(packed[i]! / POS);
      let j = i + 1;
      while (j < m && Math.floor(packed[j]! / POS) === v) j++;
      if (j - i > 1) {
        // Length class 4: the keys go on past these bytes (refine); below 4 they end here, so they are equal.
        if (v % 5 === 4) stack.push(lo + i, lo + j, depth + STEP);
        else for (let k = lo + i; k < lo + j - 1; k++) dup[k] = 1;
      }
      i = j;
    }
    // Most groups are small: the clock is read once per STEP_CHECK entries' worth of them.
    done += m;
    if (done >= STEP_CHECK) {
      done = 0;
      if (pastDeadline(budget)) yield;
    }
  }
  let kept = 0;
  for (let i = 0; i < n; i++) if (dup[i] === 0) order[kept++] = order[i]!;
  return order.subarray(0, kept);
}

/**
 * Key bytes [depth, depth + 3) zero-padded, times 5, plus the length class:
 * the bytes left (0..3) when the key ends within them, 4 when it goes on. Of
 * two keys with equal padded bytes the shorter orders first, as bytewise.
 */
function passValue(u8: Uint8Array, dv: DataView, off: number, depth: number): number {
  const rest = dv.getUint32(off + SortedEntry.KEY_LEN, true) - depth;
  const k = off + SORTED_ENTRY_HEADER_BYTES + depth;
  const word = ((rest > 0 ? u8[k]! : 0) << 16) | ((rest > 1 ? u8[k + 1]! : 0) << 8) | (rest > 2 ? u8[k + 2]! : 0);
  return word * 5 + (rest > 3 ? 4 : rest);
}

/** Stable sort of the whole of `order` by namespace; pushes each namespace's group (depth 0) on `stack`. */
function sortByNamespace(dv: DataView, order: Uint32Array, packed: Float64Array, tmp: Uint32Array, stack: number[]): void {
  const n = order.length;
  const first = dv.getUint32(order[0]! + SortedEntry.NS, true);
  let one = true;
  let max = 0;
  for (let i = 0; i < n; i++) {
    const ns = dv.getUint32(order[i]! + SortedEntry.NS, true);
    if (ns !== first) one = false;
    if (ns > max) max = ns;
  }
  if (one) {
    stack.push(0, n, 0);
    return;
  }
  if (max < 0x800_0000) {
    for (let i = 0; i < n; i++) packed[i] = dv.getUint32(order[i]! + SortedEntry.NS, true) * POS + i;
    packed.sort();
    for (let i = 0; i < n; i++) tmp[i] = order[packed[i]! % POS]!;
    order.set(tmp);
  } else {
    // Namespace ids past 2^27 (never in practice) would not pack exactly: a stable comparator sort.
    const sorted = Array.from(order).sort((a, b) => dv.getUint32(a + SortedEntry.NS, true) - dv.getUint32(b + SortedEntry.NS, true));
    order.set(sorted);
  }
  for (let i = 0; i < n; ) {
    const ns = dv.getUint32(order[i]! + SortedEntry.NS, true);
    let j = i + 1;
    while (j < n && dv.getUint32(order[j]! + SortedEntry.NS, true) === ns) j++;
    stack.push(i, j, 0);
    i = j;
  }
}

/**
 * A run holding the entries of one sorted, duplicate-free source, removals
 * dropped when `dropRemovals`: what mergeToRun makes of a single source
 * without a relocation, sized exactly up front and each entry copied once,
 * a word at a time (entries are 4-byte aligned in runs and tails alike).
 */
export function runOfSource(u8: Uint8Array, dv: DataView, offs: Uint32Array, count: number, dropRemovals: boolean, id: number): SharedArrayBuffer {
  return drain(runOfSourceSteps(u8, dv, offs, count, dropRemovals, () => id, UNBOUNDED));
}

/** runOfSource in steps (the run's id is taken when it is complete, as RunMerger.result() does). */
export function* runOfSourceSteps(
  u8: Uint8Array,
  dv: DataView,
  offs: Uint32Array,
  count: number,
  dropRemovals: boolean,
  newId: () => number,
  budget: StepBudget,
): Generator<void, SharedArrayBuffer> {
  let n = 0;
  let bytes = 0;
  const keep = dropRemovals ? new Uint32Array(count) : offs;
  for (let i = 0; i < count; i++) {
    const off = offs[i]!;
    if (dropRemovals) {
      if (dv.getUint32(off + SortedEntry.LSN_HI, true) === SORTED_TOMBSTONE_HI) continue;
      keep[n] = off;
    }
    n++;
    bytes += sortedEntryBytes(dv.getUint32(off + SortedEntry.KEY_LEN, true));
    if (due(budget, i)) yield;
  }
  const { sab, table, dataStart } = allocateRun(n, bytes);
  const out = new Int32Array(sab);
  const words = new Int32Array(u8.buffer, u8.byteOffset, u8.byteLength >>> 2);
  let at = dataStart;
  for (let i = 0; i < n; i++) {
    const off = keep[i]!;
    const size = sortedEntryBytes(dv.getUint32(off + SortedEntry.KEY_LEN, true));
    table[i] = at;
    const from = off >>> 2;
    const to = at >>> 2;
    for (let w = 0; w < size >>> 2; w++) out[to + w] = words[from + w]!;
    at += size;
    if (due(budget, i)) yield;
  }
  setRunId(sab, newId());
  return sab;
}

/**
 * An exactly sized shared buffer for a run of `n` entries taking `dataBytes`:
 * its count written, its offset table (`table`, entries start at `dataStart`)
 * for the caller to fill. The id is set last (setRunId), once the run is complete.
 */
export function allocateRun(n: number, dataBytes: number): { sab: SharedArrayBuffer; table: Uint32Array; dataStart: number } {
  const dataStart = SORTED_RUN_HEADER_BYTES + n * 4;
  const sab = new SharedArrayBuffer(dataStart + dataBytes);
  new DataView(sab).setUint32(SortedRunHeader.COUNT * 4, n, true);
  return { sab, table: new Uint32Array(sab, SORTED_RUN_HEADER_BYTES, n), dataStart };
}

export function setRunId(sab: SharedArrayBuffer, id: number): void {
  new DataView(sab).setUint32(SortedRunHeader.ID * 4, id, true);
}
