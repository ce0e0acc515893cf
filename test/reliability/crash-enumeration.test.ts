/**
 * Power loss at every mutating I/O call of a ~100-operation workload, per flush
 * policy, × every damage mode of the simulated file system × 3 seeds (see
 * test/sim/enumerate.ts for the contract checked on each recovered image).
 *
 * The workload creates the database in a directory that does not exist yet,
 * then mixes puts, removes, insertMany chunks, transactions with removes,
 * flushes, a checkpoint, a close + reopen and a compaction, and ends with a
 * close. What counts as acknowledged durable follows the policy: onEachFlush and
 * group after a completed flush (group: the shared sync of a leader/follower
 * batch), checkpoint, compact or close; writeThrough after every append.
 *
 * Planted mutant: the same enumeration over a file system whose directory fsync
 * does nothing (creation, the compaction rename and new directories are then
 * not durable) must report violations, so a harness that cannot fail is caught.
 */
import { describe, expect, it } from 'vitest';
import { scaled } from '../helpers/common.js';
import { enumerateCrashes, type EnumerationReport } from '../helpers/sim/enumerate.js';
import { overrideIO, type SimFS } from '../helpers/sim/sim-fs.js';
import { generateWorkload, POLICIES, type PolicyName } from '../helpers/sim/workload.js';

const SEEDS = scaled(3);
const WORKLOAD_SEED = 20261125;
const noDirSync = (sim: SimFS) => overrideIO(sim, { fsyncDir: () => undefined });

function line(policy: string, label: string, r: EnumerationReport & { violationCount: number }, ms: number): string {
  return (
    `[crash-enumeration] ${policy}${label}: ${r.crashPoints} crash points (N=${r.mutatingCalls} mutating calls + end) × ${r.modes} modes × ${r.seeds} seeds = ` +
    `${r.statesChecked} states checked (${r.distinctImages} distinct images recovered), ${r.lostUnsynced} lost unsynced work, ${r.residueCut} cut residue, ` +
    `${r.sampledAppends} post-recovery append checks, ${r.violationCount} violations (${ms} ms)`
  );
}

describe('crash-point enumeration on the simulated file system', () => {
  const workload = generateWorkload(WORKLOAD_SEED);

  it('the workload has about 100 operations, including every kind of step', () => {
    const kinds = new Set(workload.steps.map((s) => s.t));
    expect([...kinds].sort()).toEqual(['checkpoint', 'close', 'compact', 'flush', 'open', 'reopen', 'write']);
    const units = workload.steps.flatMap((s) => (s.t === 'write' ? s.units : []));
    expect(new Set(units.map((u) => u.t))).toEqual(new Set(['put', 'del', 'many', 'tx']));
    expect(workload.steps.length + units.length).toBeGreaterThanOrEqual(100);
  });

  for (const policy of Object.keys(POLICIES) as PolicyName[]) {
    it(`${policy}: every crash point × mode × seed recovers an acknowledged, whole-unit prefix`, () => {
      const started = Date.now();
      const report = enumerateCrashes(workload, POLICIES[policy], { seeds: SEEDS });
      console.log(line(policy, '', report, Date.now() - started));
      expect(report.violations).toEqual([]);
      expect(report.statesChecked).toBe(report.crashPoints * report.modes * SEEDS);
      expect(report.mutatingCalls).toBeGreaterThanOrEqual(80);
      // The damage modes bite: some images lose unsynced work and leave residue to cut.
      expect(report.residueCut).toBeGreaterThan(0);
      if (policy !== 'writeThrough') expect(report.lostUnsynced).toBeGreaterThan(0);
      expect(report.sampledAppends).toBeGreaterThan(0);
    });

    it(`${policy}: planted mutant (directory fsync removed) is caught`, () => {
      const started = Date.now();
      const report = enumerateCrashes(workload, POLICIES[policy], { seeds: SEEDS, wrap: noDirSync });
      console.log(line(policy, ' MUTANT no fsyncDir', report, Date.now() - started));
      console.log(`[crash-enumeration] ${policy} mutant, first violation: ${report.violations[0]}`);
      expect(report.violationCount).toBeGreaterThan(0);
    });
  }
});
