import { recordKeyLen, recordKeyStart, recordNamespace } from '../format/record-fields.js';
import { hashKey } from './hash.js';
import type { IndexView } from './index-table.js';
import { SORTED_ENTRY_HEADER_BYTES } from './layout.js';
import type { MirrorView } from './mirror.js';
import { entryKeyLen, entryNs, mergeToRun, runSource } from './sorted-run.js';
import { SortedIndexWriter, type SnapshotLimits } from './sorted-writer.js';

/** Entries sorted per pass of a bulk build (bounds the tail buffer of one pass). */
const BUILD_PASS_ENTRIES = 1 << 18;

/**
 * The sorted index of every live key of a hash index: what an open without a
 * usable persisted sorted index (or a first open with rangeScans) builds. One
 * sort per pass of BUILD_PASS_ENTRIES keys, then one merge into a single run.
 */
export function buildSorted(index: { forEachLive(fn: (lsn: number) => void): void }, mirror: MirrorView, limits: SnapshotLimits): SortedIndexWriter {
  const writer = new SortedIndexWriter([], limits);
  let pending = 0;
  const runs: SharedArrayBuffer[] = [];
  // The build reads every live record: the engine loads every page first (writer/engine.ts).
  index.forEachLive((lsn) => {
    const off = mirror.residentRecordAt(lsn);
    const dv = mirror.recDv;
    const keyStart = recordKeyStart(dv, off);
    writer.put(recordNamespace(dv, off), mirror.recU8, keyStart, recordKeyLen(dv, off), lsn);
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
 */
export function relocateSorted(old: SortedIndexWriter, index: IndexView, mirror: MirrorView): SortedIndexWriter {
  const run = mergeToRun(old.mergedSources(), true, (u8, dv, off) => {
    const ns = entryNs(dv, off);
    const len = entryKeyLen(dv, off);
    const start = off + SORTED_ENTRY_HEADER_BYTES;
    return index.find(mirror, ns, u8, start, len, hashKey(ns, u8, start, len));
  });
  const next = new SortedIndexWriter([run], old.limits);
  next.epoch = old.epoch + 1;
  return next;
}
