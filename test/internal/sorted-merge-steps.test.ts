/**
 * Background merges of sorted-index runs go in steps (shm/sorted-writer.ts,
 * shm/sorted-run.ts RunMerger), so a write never waits behind a whole merge of
 * large runs. A writer whose merges advance ~1,000 entries per step, with puts,
 * removals and tail flushes landing between the steps, must end with exactly
 * the entries of a writer that merges each pair at once: same keys, same LSNs,
 * same order. (Reads during a stepped merge: range-snapshot-isolation runs
 * with one-thousand-entry steps.)
 * Negative control: a merger whose steps lose the entry they stopped at is caught.
 */
import { describe, expect, it } from 'vitest';
import { mergeToRun, runSource, entryLsn, entryKeyLen, RunMerger } from '../../dist/src/shm/sorted-run.js';
import { SortedIndexWriter } from '../../dist/src/shm/sorted-writer.js';
import { SORTED_ENTRY_HEADER_BYTES } from '../../dist/src/shm/layout.js';
import { rng } from '../helpers/rng.js';

const LIMITS = { maxAgeMs: 60_000, maxPinnedBytes: 1 << 30 };

/** Every live key of a writer's run set and tail, newest version first wins, as `key=lsn` in key order. */
function contents(w: SortedIndexWriter): string[] {
  const merged = runSource(mergeToRun(w.mergedSources(), true));
  const out: string[] = [];
  for (let i = 0; i < merged.n; i++) {
    const off = merged.offs[i]!;
    const len = entryKeyLen(merged.dv, off);
    const key = Buffer.from(merged.u8.subarray(off + SORTED_ENTRY_HEADER_BYTES, off + SORTED_ENTRY_HEADER_BYTES + len)).toString();
    out.push(`${key}=${entryLsn(merged.dv, off)}`);
  }
  return out;
}

function drive(stepDeadline: number, seed: number, ops = 30_000): { writer: SortedIndexWriter; steps: number; model: Map<string, number> } {
  const rnd = rng(seed);
  const w = new SortedIndexWriter([], LIMITS);
  const model = new Map<string, number>();
  let steps = 0;
  for (let i = 0; i < ops; i++) {
    const key = Buffer.from(`k${Math.floor(rnd() * 20_000).toString().padStart(6, '0')}`);
    if (rnd() < 0.3 && model.has(key.toString())) {
      w.remove(0, key, 0, key.length);
      model.delete(key.toString());
    } else {
      const lsn = 12_288 + i * 64;
      w.put(0, key, 0, key.length, lsn);
      model.set(key.toString(), lsn);
    }
    if (i % 50 === 49) {
      w.commit();
      // Upkeep between batches, as the writer thread runs it between requests.
      if (w.needsMaintenance()) {
        w.maintain(stepDeadline);
        steps++;
      }
    }
  }
  w.commit();
  while (w.needsMaintenance()) {
    w.maintain(stepDeadline);
    steps++;
  }
  return { writer: w, steps, model };
}

describe('sorted-index merges in steps', () => {
  it('a stepped writer ends with exactly the entries of the model and of a writer merging at once', () => {
    for (const seed of [1, 2, 3]) {
      const stepped = drive(0, seed);
      const whole = drive(Infinity, seed);
      const want = [...stepped.model].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, l]) => `${k}=${l}`);
      expect(contents(stepped.writer)).toEqual(want);
      expect(contents(whole.writer)).toEqual(want);
      // The stepped merges really took many steps.
      expect(stepped.steps).toBeGreaterThan(whole.steps);
    }
  });

  it('RunMerger stepped to completion equals mergeToRun; a merger that loses its resume point is caught', () => {
    const a = drive(Infinity, 7, 8_000).writer;
    const sources = a.mergedSources();
    const once = runSource(mergeToRun(sources, false));
    const merger = new RunMerger(sources, false);
    let calls = 0;
    while (!merger.step(0)) calls++;
    const stepped = runSource(merger.result());
    expect(calls).toBeGreaterThan(2);
    expect(Buffer.from(stepped.u8.subarray(16)).equals(Buffer.from(once.u8.subarray(16)))).toBe(true);
    // Negative control: skipping one source entry at each resume (what a step that lost its position would do).
    const lossy = new RunMerger(sources, false);
    const pos = (lossy as unknown as { pos: number[] }).pos;
    while (!lossy.step(0)) pos[0] = pos[0]! + 1;
    expect(runSource(lossy.result()).n).toBeLessThan(once.n);
  });
});
