/**
 * The crash-point enumeration (test/crash-enumeration.test.ts) with the sorted
 * index on: power loss at every mutating I/O call of the same ~100-operation
 * workload × every damage mode, one seed per flush policy (all three) to keep
 * CI time modest. Besides the usual contract, every recovered image's sorted
 * index must equal its hash index (test/sim/sorted-check.ts). Planted mutant:
 * a sorted index that loses removals ('drop-removals', src/mutants.ts, set on
 * this thread, where the simulated writer runs) must be reported.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { scaled } from '../helpers/common.js';
import { enumerateCrashes } from '../helpers/sim/enumerate.js';
import { harness } from '../helpers/sim/sorted-check.js';
import { generateWorkload, POLICIES } from '../helpers/sim/workload.js';
import { testMutant } from '../../dist/src/mutants.js';

const WORKLOAD_SEED = 20261125;

describe('crash-point enumeration with rangeScans: the sorted index equals the hash index after every recovery', () => {
  const workload = generateWorkload(WORKLOAD_SEED);
  afterEach(() => {
    harness.rangeScans = undefined;
    testMutant.name = '';
  });

  for (const policy of ['onEachFlush', 'group', 'writeThrough'] as const) {
    it(`${policy}: every crash point × mode recovers a sorted index equal to the hash index`, () => {
      harness.rangeScans = { maxAgeMs: 0, maxPinnedBytes: 0 };
      const started = Date.now();
      const report = enumerateCrashes(workload, POLICIES[policy], { seeds: scaled(1) });
      console.log(`[crash-enumeration-range] ${policy}: ${report.statesChecked} states checked, ${report.distinctImages} distinct images, ${report.violationCount} violations (${Date.now() - started} ms)`);
      expect(report.violations).toEqual([]);
      expect(report.statesChecked).toBeGreaterThan(300);
    });
  }

  it('planted mutant: a sorted index that drops removals is caught', () => {
    harness.rangeScans = { maxAgeMs: 0, maxPinnedBytes: 0 };
    testMutant.name = 'drop-removals';
    const report = enumerateCrashes(workload, POLICIES.onEachFlush, { seeds: 1 });
    console.log(`[crash-enumeration-range] mutant: ${report.violationCount} violations, first: ${report.violations[0]}`);
    expect(report.violationCount).toBeGreaterThan(0);
  });
});
