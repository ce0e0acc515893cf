/**
 * Incremental compaction under power loss with the page cache (two 64 KiB
 * frames) and the sorted index, on the simulated file system: the new log is
 * staged (shm/staged-log.ts: only its unwritten part in memory, earlier
 * records read back from the temp file while the catch-up applies writes made
 * meanwhile), the old log is walked through a window of checked pages, and
 * the sorted index is relocated through the compaction's moves.
 *
 * The workload is the concurrent one (helpers/sim/compaction-workload.ts).
 * Power cut at every mutating call × every damage mode, two flush policies:
 * recovery gives a whole-unit prefix at or after the last acknowledged
 * durable one, no `.compact` file survives the open, and the sorted index of
 * every recovered image equals its hash index. Planted mutant: the temp
 * file's syncs dropped, which must be caught here too.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { scaled } from '../helpers/common.js';
import { DB } from '../helpers/sim/engine-harness.js';
import { concurrentCompactionWorkload } from '../helpers/sim/compaction-workload.js';
import { enumerateCrashes } from '../helpers/sim/enumerate.js';
import { SimFS, withoutCompactTempSync } from '../helpers/sim/sim-fs.js';
import { harness } from '../helpers/sim/sorted-check.js';
import { POLICIES, runWorkload, workloadOf } from '../helpers/sim/workload.js';

const SEEDS = scaled(1);
const TWO_FRAMES = 128 * 1024;

/** Records the descriptors opened read-only on the temp file: the staged log's. */
class SpyFS extends SimFS {
  readonly tempReads: string[] = [];
  override open(file: string, flags: 'r' | 'r+' | 'wx' | 'r+dsync'): number {
    if (flags === 'r' && file.endsWith('.compact')) this.tempReads.push(file);
    return super.open(file, flags);
  }
}

const steps = concurrentCompactionWorkload();
const workload = workloadOf(steps);

describe('incremental compaction with the page cache, on the simulated file system', () => {
  beforeEach(() => {
    harness.cacheSize = TWO_FRAMES;
    harness.rangeScans = { maxAgeMs: 0, maxPinnedBytes: 0 };
  });
  afterEach(() => {
    harness.cacheSize = undefined;
    harness.rangeScans = undefined;
  });

  it('stages the new log: the temp file is read back while the job runs', () => {
    const sim = new SpyFS();
    const run = runWorkload(sim, steps, POLICIES.onEachFlush);
    expect(run.error).toBeUndefined();
    expect(sim.tempReads).toEqual([`${DB}.compact`]);
  });

  for (const name of ['onEachFlush', 'writeThrough'] as const) {
    it(`power cut at every I/O call × mode (${name}): a whole-unit prefix at or after the last durable one, the sorted index equal to the hash index, no orphan`, () => {
      const started = Date.now();
      const report = enumerateCrashes(workload, POLICIES[name], { seeds: SEEDS });
      console.log(
        `[crash-enumeration-compaction-staged] ${name}: ${report.crashPoints} crash points × ${report.modes} modes × ${report.seeds} seeds = ` +
          `${report.statesChecked} states checked, ${report.distinctImages} distinct images, ${report.violationCount} violations (${Date.now() - started} ms)`,
      );
      expect(report.violations).toEqual([]);
      expect(report.statesChecked).toBeGreaterThan(500);
    }, 600_000);
  }

  it('planted mutant: the temp file never synced is caught', () => {
    const report = enumerateCrashes(workload, POLICIES.onEachFlush, { seeds: SEEDS, wrap: withoutCompactTempSync });
    console.log(`[crash-enumeration-compaction-staged] MUTANT no temp fdatasync: ${report.statesChecked} states checked, ${report.violationCount} violations; first: ${report.violations[0]}`);
    expect(report.violationCount).toBeGreaterThan(0);
  }, 600_000);
});
