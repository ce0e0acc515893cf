/**
 * Preallocation under power loss (docs/RELIABILITY.md, "Preallocation"). The
 * writer zero-fills the log file ahead of small appends, so the file is longer
 * than the log; the zeros are valid file content (FORMAT.md) that recovery
 * must find the log end in front of.
 *
 *  - Zero-filled preallocation past the tail, all of it durable: every crash
 *    mode recovers every record, cuts the zeros (reported as residue at the
 *    log end), and appends after them survive a reopen; a clean close leaves
 *    the file exactly the log.
 *  - A crash while the file grows: a workload that grows the file several
 *    times, with a power cut at every mutating call (each zero write among
 *    them, in flight: any part of it may land) × every crash mode × 2 seeds,
 *    recovers an acknowledged, whole-unit prefix (the contract of
 *    test/helpers/sim/enumerate.ts), under every flush policy.
 */
import { describe, expect, it } from 'vitest';
import { CRASH_MODES } from '../helpers/sim/crash-image.js';
import { DB, encodeUnits, openEngine, readBack, type Put } from '../helpers/sim/engine-harness.js';
import { enumerateCrashes } from '../helpers/sim/enumerate.js';
import { overrideIO, SimFS } from '../helpers/sim/sim-fs.js';
import { POLICIES, runWorkload, workloadOf, type PolicyName, type Step } from '../helpers/sim/workload.js';

const ON_EACH_FLUSH = POLICIES.onEachFlush;

function put(i: number, bytes: number): Put {
  return { t: 'put', k: `k${i % 24}`, v: `${i}|`.padEnd(bytes, String.fromCharCode(97 + (i % 26))) };
}

function isZero(buf: Uint8Array, off: number, len: number): boolean {
  for (let i = off; i < off + len; i++) if (buf[i] !== 0) return false;
  return true;
}

/** The mutating calls (1-based) of a clean run that were zero writes to the log: the file growing. */
function growthCalls(steps: readonly Step[], policy: (typeof POLICIES)[PolicyName]): number[] {
  const sim = new SimFS();
  const calls: number[] = [];
  const io = overrideIO(sim, {
    write: (fd, buf, off, len, pos) => {
      if (len >= 4096 && isZero(buf, off, len)) calls.push(sim.mutations + 1);
      return sim.write(fd, buf, off, len, pos);
    },
  });
  const run = runWorkload(io, steps, policy);
  if (run.error) throw new Error(`the workload fails without a crash: ${String(run.error)}`);
  return calls;
}

describe('preallocation: zero-filled space past the log end', () => {
  it('durable zeros past the tail: every crash mode recovers every record and cuts the zeros; close trims', () => {
    const sim = new SimFS();
    const engine = openEngine(sim, ON_EACH_FLUSH);
    const units = Array.from({ length: 12 }, (_, i) => put(i, 300));
    const { batch, records } = encodeUnits(units);
    engine.append(batch, false, records);
    engine.flush();
    const logEnd = engine.stats().fileBytes;
    const fileLen = sim.readFile(DB)!.length;
    expect(fileLen, 'the file was grown past the log with zeros').toBeGreaterThan(logEnd);
    expect(isZero(sim.readFile(DB)!, logEnd, fileLen - logEnd)).toBe(true);
    const want = new Map(units.map((u) => [u.k, u.v]));
    for (const mode of CRASH_MODES) {
      const image = sim.crash(mode, 1);
      expect(image.durableFile(DB)!.length, `${mode}: the synced zeros are on disk`).toBe(fileLen);
      const reopened = openEngine(image, ON_EACH_FLUSH);
      try {
        const { state, problems } = readBack(reopened, want.keys());
        expect(problems, mode).toEqual([]);
        expect(state, mode).toEqual(want);
        expect(reopened.recovery, mode).toMatchObject({ residueAt: logEnd, truncatedBytes: fileLen - logEnd, droppedRecords: 0 });
        expect(image.readFile(DB)!.length, `${mode}: the zeros are cut before the writer appends`).toBe(logEnd);
        const more = encodeUnits([put(100, 50)]);
        reopened.append(more.batch, false, more.records);
        reopened.flush();
      } finally {
        reopened.close();
      }
      const again = openEngine(image.crash('dropUnsynced', 1), ON_EACH_FLUSH);
      try {
        expect(readBack(again, ['k4']).state.get('k4'), `${mode}: the append after the cut survives`).toBe(put(100, 50).v);
      } finally {
        again.close();
      }
    }
    engine.close();
    expect(sim.readFile(DB)!.length, 'close trims the file to the log end').toBe(logEnd);
  });

  const steps: Step[] = [{ t: 'open' }];
  for (let i = 0; i < 48; i++) {
    steps.push({ t: 'write', units: [put(i, i % 5 === 4 ? 9000 : 1200)] });
    if (i % 3 === 2) steps.push({ t: 'flush' });
    if (i === 30) steps.push({ t: 'reopen' });
  }
  steps.push({ t: 'flush' }, { t: 'close' });
  const workload = workloadOf(steps);

  for (const policy of Object.keys(POLICIES) as PolicyName[]) {
    it(`${policy}: a power cut at every call while the file grows recovers an acknowledged prefix`, () => {
      const growth = growthCalls(steps, POLICIES[policy]);
      expect(growth.length, 'the workload grows the file several times').toBeGreaterThanOrEqual(3);
      const started = Date.now();
      const report = enumerateCrashes(workload, POLICIES[policy], { seeds: 2 });
      console.log(
        `[crash-enumeration-prealloc] ${policy}: ${report.crashPoints} crash points (${growth.length} of them zero writes growing the file) × ` +
          `${report.modes} modes × 2 seeds = ${report.statesChecked} states, ${report.residueCut} cut residue, ${report.violationCount} violations (${Date.now() - started} ms)`,
      );
      expect(report.violations).toEqual([]);
      expect(report.residueCut).toBeGreaterThan(0);
    });
  }
});
