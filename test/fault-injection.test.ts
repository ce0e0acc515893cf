/**
 * Fault injection at every mutating I/O call of a ~100-operation workload (the
 * crash-enumeration workload: create, writes, flushes, checkpoint, reopen,
 * compaction, close), per flush policy: EIO, ENOSPC and EROFS, transient (that
 * call only) and persistent (every later mutating call too); a short write at
 * every write; a failed fdatasync that drops the file's unsynced data at every
 * fdatasync. What each case checks is in test/sim/fault-case.ts.
 *
 * Planted mutant: a FileIO that retries a failed fdatasync and reports success
 * (the "fsyncgate" mistake) must be caught — the failure is then swallowed and
 * data acknowledged as durable is lost on the next power loss.
 */
import { describe, expect, it } from 'vitest';
import { scaled } from './helpers.js';
import { runFaultCase, type FaultCaseResult } from './sim/fault-case.js';
import { overrideIO, SimFS, type Fault, type FaultCode, type SimFS as Sim } from './sim/sim-fs.js';
import { generateWorkload, POLICIES, runWorkload, type PolicyName } from './sim/workload.js';

const WORKLOADS = scaled(1);

interface Tally {
  cases: number;
  injected: number;
  surfaced: number;
  emdbInProcess: number;
  refused: number;
  violations: string[];
}

function tally(results: Iterable<FaultCaseResult>): Tally {
  const t: Tally = { cases: 0, injected: 0, surfaced: 0, emdbInProcess: 0, refused: 0, violations: [] };
  for (const r of results) {
    t.cases++;
    t.injected += r.injected;
    t.surfaced += r.surfaced;
    t.emdbInProcess += r.emdbInProcess;
    if (r.refused) t.refused++;
    t.violations.push(...r.violations);
  }
  return t;
}

/** Every fault of the matrix for a workload whose clean run makes the calls in `log`. */
function* faultsFor(log: Sim['log']): Generator<Fault> {
  for (let n = 1; n <= log.length; n++) {
    for (const code of ['EIO', 'ENOSPC', 'EROFS'] as FaultCode[]) {
      yield { at: n, code, persistent: false };
      yield { at: n, code, persistent: true };
    }
    if (log[n - 1]!.op === 'write') yield { at: n, code: 'short' };
    if (log[n - 1]!.op === 'fdatasync') yield { at: n, code: 'syncFail' };
  }
}

describe('fault injection at every mutating I/O call', () => {
  for (const policy of Object.keys(POLICIES) as PolicyName[]) {
    it(`${policy}: every fault surfaces as ERR_EMDB_IO, failed log writes and syncs refuse writes until reopen, images recover`, () => {
      const started = Date.now();
      const all: Tally[] = [];
      for (let w = 0; w < WORKLOADS; w++) {
        const workload = generateWorkload(7000 + w);
        const clean = new SimFS();
        expect(runWorkload(clean, workload.steps, POLICIES[policy]).error).toBeUndefined();
        const results: FaultCaseResult[] = [];
        for (const fault of faultsFor(clean.log)) {
          const r = runFaultCase(workload, POLICIES[policy], fault);
          if (r.violations.length > 0) r.violations = r.violations.map((v) => `fault ${JSON.stringify(fault)} (${clean.log[fault.at - 1]!.op}): ${v}`);
          results.push(r);
        }
        all.push(tally(results));
      }
      const t = tally(all.map((a) => ({ injected: a.injected, surfaced: a.surfaced, emdbInProcess: a.emdbInProcess, refused: a.refused > 0, violations: a.violations })));
      const sum = (f: (a: Tally) => number): number => all.reduce((s, a) => s + f(a), 0);
      console.log(
        `[fault-injection] ${policy}: ${sum((a) => a.cases)} cases, ${t.injected} faults injected (short writes included), ` +
          `${sum((a) => a.surfaced)} surfaced as ERR_EMDB_IO with the injected cause (${sum((a) => a.emdbInProcess)} already EmdbError in-process), ` +
          `${sum((a) => a.refused)} left the engine refusing writes until reopen, ${t.violations.length} violations (${Date.now() - started} ms)`,
      );
      expect(t.violations.slice(0, 10)).toEqual([]);
      expect(t.injected).toBeGreaterThan(0);
    });
  }

  // Regression: after a failed fdatasync the unsynced records stayed readable in the
  // page cache; a reopen in the same process took them for durable, later checkpoints
  // put the tail hint past them, and the next power loss left a hole before the hint
  // (ERR_EMDB_CORRUPTION). A compaction rewrites the log and hides this, so this
  // workload has none.
  it('failed fdatasync, then reopen in the same process and more acknowledged writes: the power-loss image keeps them', () => {
    const workload = generateWorkload(7100, 100, false);
    for (const policy of Object.keys(POLICIES) as PolicyName[]) {
      const clean = new SimFS();
      expect(runWorkload(clean, workload.steps, POLICIES[policy]).error).toBeUndefined();
      const reopenAt = clean.log.findIndex((c, i) => i > 10 && c.op === 'open');
      const syncs = [...faultsFor(clean.log)].filter((f) => f.code === 'syncFail');
      const t = tally(syncs.map((f) => runFaultCase(workload, POLICIES[policy], f)));
      console.log(`[fault-injection] ${policy} failed fdatasync + reopen: ${t.cases} cases (${syncs.filter((f) => f.at < reopenAt).length} before the reopen), ${t.surfaced} surfaced, ${t.violations.length} violations`);
      expect(t.violations.slice(0, 5)).toEqual([]);
    }
  });

  it('planted mutant: retrying a failed fdatasync and assuming success is caught', () => {
    const workload = generateWorkload(7000);
    const clean = new SimFS();
    runWorkload(clean, workload.steps, POLICIES.onEachFlush);
    const retryingSync = (sim: SimFS) =>
      overrideIO(sim, {
        fdatasync: (fd) => {
          try {
            sim.fdatasync(fd);
          } catch {
            sim.fdatasync(fd);
          }
        },
      });
    const results = [...faultsFor(clean.log)].filter((f) => f.code === 'syncFail').map((f) => runFaultCase(workload, POLICIES.onEachFlush, f, retryingSync));
    const t = tally(results);
    console.log(`[fault-injection] MUTANT retry failed fdatasync: ${t.cases} cases, ${t.injected} injected, ${t.surfaced} surfaced, ${t.violations.length} violations; first: ${t.violations[0]}`);
    expect(t.violations.length).toBeGreaterThan(0);
  });
});
