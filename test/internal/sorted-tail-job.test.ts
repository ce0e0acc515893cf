/**
 * A full tail is sorted into a run in steps between write batches
 * (shm/sorted-tail-job.ts, SortedIndexWriter.maintain), while writes go on
 * appending to the same tail; when the run is published, a new tail takes the
 * entries appended meanwhile. What a reader sees through the published
 * manifest (runs + the tail up to its published COUNT, rule S2) must equal
 * the model after every batch and every step: nothing lost, nothing revived,
 * the newest version winning across the run/tail boundary.
 * Negative control: planted mutant 'tail-job-drops-rest' (the new tail left
 * empty) is caught.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { entryKeyLen, entryLsn, mergeToRun, runSource, type SortedSource } from '../../dist/src/shm/sorted-run.js';
import { snapshotSources } from '../../dist/src/range/snapshot.js';
import { SortedIndexWriter } from '../../dist/src/shm/sorted-writer.js';
import { SORTED_ENTRY_HEADER_BYTES, SORTED_TAIL_MAX_ENTRIES, SortedTailHeader } from '../../dist/src/shm/layout.js';
import { testMutant } from '../../dist/src/mutants.js';
import { rng } from '../helpers/rng.js';

const LIMITS = { maxAgeMs: 60_000, maxPinnedBytes: 1 << 30 };

/** What a reader on another thread would see now: live `key=lsn` in key order. */
function readerView(w: SortedIndexWriter): string[] {
  const m = w.manifest();
  const count = Atomics.load(new Int32Array(m.tail, 0, 1), SortedTailHeader.COUNT);
  const sources: SortedSource[] = snapshotSources(m, count);
  const merged = runSource(mergeToRun(sources, true));
  const out: string[] = [];
  for (let i = 0; i < merged.n; i++) {
    const off = merged.offs[i]!;
    const len = entryKeyLen(merged.dv, off);
    out.push(`${Buffer.from(merged.u8.subarray(off + SORTED_ENTRY_HEADER_BYTES, off + SORTED_ENTRY_HEADER_BYTES + len)).toString()}=${entryLsn(merged.dv, off)}`);
  }
  return out;
}

function expected(model: Map<string, number>): string[] {
  return [...model].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, l]) => `${k}=${l}`);
}

/** Batches of writes, one smallest maintain() step between batches; checks the reader's view after each. */
function drive(seed: number): { jobsPublished: number; steps: number } {
  const rnd = rng(seed);
  const w = new SortedIndexWriter([], LIMITS);
  const model = new Map<string, number>();
  let lsn = 4096;
  let steps = 0;
  let jobsPublished = 0;
  const batch = (n: number): void => {
    for (let i = 0; i < n; i++) {
      const key = Buffer.from(`k${Math.floor(rnd() * 6_000).toString().padStart(5, '0')}`);
      if (rnd() < 0.25) {
        w.remove(0, key, 0, key.length);
        model.delete(key.toString());
      } else {
        w.put(0, key, 0, key.length, (lsn += 64));
        model.set(key.toString(), lsn);
      }
    }
    w.commit();
  };
  // Bulk-sized batches fill the tail past SORTED_TAIL_MAX_ENTRIES, so the next upkeep starts a job: the
  // first job's run is the oldest (removals dropped), the second's goes on top of it (removals kept).
  for (const bulk of [SORTED_TAIL_MAX_ENTRIES * 3, SORTED_TAIL_MAX_ENTRIES * 2]) {
    batch(bulk);
    for (let round = 0; round < 400 && (round < 20 || w.needsMaintenance()); round++) {
      const runsBefore = w.runs.length;
      const tailBefore = w.tailEntries;
      // A deadline already past: the job yields at its first look at the clock.
      if (w.needsMaintenance()) {
        w.maintain(0);
        steps++;
      }
      if (w.tailEntries < tailBefore && w.runs.length > runsBefore) jobsPublished++;
      expect(readerView(w), `seed ${seed} round ${round}, after a step`).toEqual(expected(model));
      batch(1 + Math.floor(rnd() * 40));
      expect(readerView(w), `seed ${seed} round ${round}, after a batch`).toEqual(expected(model));
    }
  }
  return { jobsPublished, steps };
}

describe('tail sort in steps', () => {
  afterEach(() => {
    testMutant.name = '';
  });

  it('readers see exactly the model across steps, batches and the publication of the run', () => {
    for (const seed of [1, 2, 3, 4]) {
      const { jobsPublished, steps } = drive(seed);
      expect(jobsPublished).toBeGreaterThan(1);
      // The first tail's sort really took several steps with batches between them.
      expect(steps).toBeGreaterThan(jobsPublished + 2);
    }
  });

  it("negative control: a new tail that drops the entries appended during the job is caught ('tail-job-drops-rest')", () => {
    testMutant.name = 'tail-job-drops-rest';
    expect(() => drive(1)).toThrow();
  });
});
