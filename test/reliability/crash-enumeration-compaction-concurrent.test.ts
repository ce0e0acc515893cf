/**
 * Incremental compaction under power loss, on the simulated file system, with
 * writes between its steps (DESIGN.md, "Compaction"): the job's temp file is
 * written in 4 KiB chunks and synced every 16 KiB, so power cuts land in the
 * bitmap scan, in the copy, in the catch-up of the writes made meanwhile, and
 * in the swap (its last writes, sync, rename, directory sync, reopen).
 *
 * Workload: 160 keys (some values over 4 KiB), overwrites and removes, then
 * compactBegin, then 12 rounds of (one compaction step, a write unit touching
 * keys being copied: put, remove, insertMany chunk or transaction, sometimes a
 * flush), then the swap, more writes, flush, close.
 *
 * Power cut at every mutating call × every damage mode × 2 seeds, two flush
 * policies: recovery gives a whole-unit prefix at or after the last
 * acknowledged durable one and no `.compact` file survives the open.
 * Planted mutant: the temp file's syncs dropped, which must be caught.
 */
import { describe, expect, it } from 'vitest';
import { scaled } from '../helpers/common.js';
import { DB } from '../helpers/sim/engine-harness.js';
import { enumerateCrashes } from '../helpers/sim/enumerate.js';
import { SimFS, withoutCompactTempSync } from '../helpers/sim/sim-fs.js';
import { concurrentCompactionWorkload } from '../helpers/sim/compaction-workload.js';
import { POLICIES, runWorkload, workloadOf } from '../helpers/sim/workload.js';

const SEEDS = scaled(2);

const steps = concurrentCompactionWorkload();
const workload = workloadOf(steps);
const beginAt = steps.findIndex((s) => s.t === 'compactBegin');
const finishAt = steps.findIndex((s) => s.t === 'compactFinish');

describe('incremental compaction with writes between its steps, on the simulated file system', () => {
  it('the compaction makes I/O calls in its steps (copy, catch-up) and in its swap', () => {
    const sim = new SimFS();
    const marks: Record<string, number> = {};
    const run = runWorkload(sim, steps, POLICIES.onEachFlush, { onStep: (i, when) => void ((i === beginAt || i === finishAt) && (marks[`${i}${when}`] = sim.mutations)) });
    expect(run.error).toBeUndefined();
    const inSteps = sim.log.slice(marks[`${beginAt}before`], marks[`${finishAt}before`]).filter((c) => c.file === `${DB}.compact`).map((c) => c.op);
    const inSwap = sim.log.slice(marks[`${finishAt}before`], marks[`${finishAt}after`]).map((c) => c.op);
    console.log(`[crash-enumeration-compaction-concurrent] temp-file calls during the steps: ${inSteps.length} (${inSteps.filter((o) => o === 'fdatasync').length} syncs); swap: ${inSwap.join(', ')}`);
    expect(inSteps.filter((o) => o === 'write').length).toBeGreaterThan(3);
    expect(inSteps).toContain('fdatasync');
    expect(inSwap).toEqual(expect.arrayContaining(['write', 'fdatasync', 'rename', 'fsyncDir', 'open']));
  });

  for (const name of ['onEachFlush', 'writeThrough'] as const) {
    it(`power cut at every I/O call × mode × seed (${name}): a whole-unit prefix at or after the last durable one, no orphan`, () => {
      const started = Date.now();
      const report = enumerateCrashes(workload, POLICIES[name], { seeds: SEEDS });
      console.log(
        `[crash-enumeration-compaction-concurrent] ${name}: ${report.crashPoints} crash points × ${report.modes} modes × ${report.seeds} seeds = ` +
          `${report.statesChecked} states checked, ${report.distinctImages} distinct images, ${report.violationCount} violations (${Date.now() - started} ms)`,
      );
      expect(report.violations).toEqual([]);
    }, 600_000);
  }

  it('planted mutant: the temp file never synced is caught', () => {
    const report = enumerateCrashes(workload, POLICIES.onEachFlush, {
      seeds: SEEDS,
      wrap: withoutCompactTempSync,
    });
    console.log(`[crash-enumeration-compaction-concurrent] MUTANT no temp fdatasync: ${report.statesChecked} states checked, ${report.violationCount} violations; first: ${report.violations[0]}`);
    expect(report.violationCount).toBeGreaterThan(0);
  }, 600_000);
});
