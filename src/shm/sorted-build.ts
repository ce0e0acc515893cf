import { recordKeyLen, recordKeyStart, recordNamespace } from '../format/record-fields.js';
import { hashKey } from './hash.js';
import { ExactLsn, type IndexView } from './index-table.js';
import { SORTED_ENTRY_HEADER_BYTES } from './layout.js';
import type { MirrorView } from './mirror.js';
import { entryKeyLen, entryLsn, entryNs, mergeToRun, runSource } from './sorted-run.js';
import { SortedIndexWriter, type SnapshotLimits } from './sorted-writer.js';

/** Entries sorted per pass of a bulk build (bounds the tail buffer of one pass). */
const BUILD_PASS_ENTRIES = 1 << 18;

/**
 * The sorted index of every live key of a hash index: what an open without a
 * usable persisted sorted index (or a first open with rangeScans) builds. One
 * sort per pass of BUILD_PASS_ENTRIES keys, then one merge into a single run.
 */
export function buildSorted(index: { forEachLive(fn: (lsn: number) => void): void }, mirror: MirrorView, limits: SnapshotLimits): SortedIndexWriter {
  // The build reads every live record: the engine loads every page first (writer/engine.ts).
  return buildSortedFrom((put) =>
    index.forEachLive((lsn) => {
      const off = mirror.residentRecordAt(lsn);
      const dv = mirror.recDv;
      put(recordNamespace(dv, off), mirror.recU8, recordKeyStart(dv, off), recordKeyLen(dv, off), lsn);
    }),
  limits);
}

/** Hands every live key to `put` once, in any order: (namespace, bytes, start, length, LSN of its record); put copies the key. */
export type LiveKeys = (put: (ns: number, u8: Uint8Array, start: number, len: number, lsn: number) => void) => void;

/** The sorted index of the keys `each` hands over: a sort per BUILD_PASS_ENTRIES keys, then one merge. */
export function buildSortedFrom(each: LiveKeys, limits: SnapshotLimits): SortedIndexWriter {
  const writer = new SortedIndexWriter([], limits);
  let pending = 0;
  const runs: SharedArrayBuffer[] = [];
  each((ns, u8, start, len, lsn) => {
    writer.put(ns, u8, start, len, lsn);
    if (++pending >= BUILD_PASS_ENTRIES) {
      runs.push(writer.sealTail());
      pending = 0;
    }
  });
  if (pending > 0 || runs.length === 0) runs.push(writer.sealTail());
  // Keys are distinct across passes, so the order of the sources does not matter.
  return new SortedIndexWriter([runs.length === 1 ? runs[0]! : mergeToRun(runs.map(runSource), true)], limits);
}

/**
 * The sorted index after compaction moved every record: the same keys, each
 * pointed at its record in the new log (found through the new hash index);
 * keys compaction dropped (expired) are left out. No sort is needed.
 *
 * `moved` (the compaction's moves, when the new log is not in memory) gives
 * the new LSN of the entry's record, and the hash index confirms it without
 * reading the log: a probe that accepts only that LSN finds it exactly when
 * the index maps the entry's key there (the record at that LSN is the entry's
 * record, moved, so it holds that key; and the index holds a key once). An
 * entry whose record was not copied, or was replaced during the compaction,
 * is looked up by comparing keys, as without `moved`.
 */
export function relocateSorted(old: SortedIndexWriter, index: IndexView, mirror: MirrorView, moved?: (lsn: number) => number): SortedIndexWriter {
  const exactly = new ExactLsn();
  const run = mergeToRun(old.mergedSources(), true, (u8, dv, off) => {
    const ns = entryNs(dv, off);
    const len = entryKeyLen(dv, off);
    const start = off + SORTED_ENTRY_HEADER_BYTES;
    const hash = hashKey(ns, u8, start, len);
    const to = moved ? moved(entryLsn(dv, off)) : -1;
    if (to >= 0) {
      exactly.lsn = to;
      if (index.find(exactly, ns, u8, start, len, hash) === to) return to;
    }
    return index.find(mirror, ns, u8, start, len, hash);
  });
  const next = new SortedIndexWriter([run], old.limits);
  next.epoch = old.epoch + 1;
  return next;
}
