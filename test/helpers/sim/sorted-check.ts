/**
 * The rangeScans variant of the simulated crash harness: when `harness.rangeScans`
 * is set, engines open with the sorted index, and every read-back also scans
 * the sorted index (the same collectRange the iterators use) and checks it
 * against the hash index: the same live keys with the same values, in strictly
 * increasing bytewise order.
 */
import type { BufferSet } from '../../../dist/src/protocol.js';
import type { MirrorView } from '../../../dist/src/shm/mirror.js';
import type { SnapshotLimits } from '../../../dist/src/shm/sorted-writer.js';
import { collectRange, snapshotSources } from '../../../dist/src/range/snapshot.js';
import { unpackScan } from '../../../dist/src/shm/scan.js';

/**
 * Variants of the simulated harness. `rangeScans`: engines open with the
 * sorted index. `cacheSize`: the workload's own engine reads through the page
 * cache (its reads all run on this thread, through the simulated file
 * system's read); recovered images open with the whole-log mirror.
 */
export const harness: { rangeScans: SnapshotLimits | undefined; cacheSize: number | undefined } = { rangeScans: undefined, cacheSize: undefined };

/** Problems found comparing the sorted index of `set` with `state` (the hash index's view of namespace 0). */
export function checkSorted(set: BufferSet, mirror: MirrorView, state: Map<string, string>): string[] {
  if (!harness.rangeScans) return [];
  return sortedProblems(set, mirror, state);
}

/** The comparison itself (the kill loop calls it on every image it recovers with rangeScans). */
export function sortedProblems(set: BufferSet, mirror: MirrorView, state: ReadonlyMap<string, string>): string[] {
  const manifest = set.sorted;
  if (!manifest) return ['opened with rangeScans but no sorted index was published'];
  const tailCount = Atomics.load(new Int32Array(manifest.tail, 0, 1), 0);
  const snap = { generation: -1, sources: snapshotSources(manifest, tailCount), tailCount, mirror, manifest, createdAt: Date.now() };
  const open = { key: undefined, exclusive: false };
  const chunk = collectRange(snap, 0, open, open, false, Infinity, true, Date.now());
  const problems: string[] = [];
  let prev: Buffer | undefined;
  let n = 0;
  for (const [k, v] of unpackScan(chunk.packed)) {
    if (prev && Buffer.compare(prev, k) >= 0) problems.push(`sorted index out of order at ${k.toString('latin1')}`);
    prev = Buffer.from(k);
    const key = k.toString('latin1');
    if (state.get(key) !== v.toString('latin1')) problems.push(`sorted index has ${key} with a value the hash index does not serve`);
    n++;
  }
  if (n !== state.size) problems.push(`sorted index has ${n} live keys, the hash index ${state.size}`);
  return problems.slice(0, 3);
}
