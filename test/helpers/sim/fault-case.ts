/**
 * One fault-injection case: the workload runs on a SimFS whose n-th mutating call
 * fails (or writes short, or loses its data in a failed fdatasync), carrying on
 * after errors as an application would. Checked:
 *  - the fault surfaces: the first error the caller sees is ERR_EMDB_IO with the
 *    injected error as its cause (as the main thread rebuilds it from the
 *    writer's reply). In-process the engine throws an EmdbError itself, except
 *    while opening, where raw fs errors reach workers/writer.ts, which wraps them;
 *  - after a failed write (EIO, EROFS) or any failed fdatasync on the log, the
 *    engine refuses writes (each refused with the stored error, no I/O) until
 *    it is reopened, and writes work again after the reopen;
 *  - short writes are completed by writeFully: no error at all;
 *  - the power-loss image taken after the run recovers, and holds a whole-unit
 *    prefix of the applied units at or after the last acknowledged durable one.
 */
import { deserializeError, EmdbError, ErrorCode, serializeError } from '../../../dist/src/errors.js';
import type { FileIO } from '../../../dist/src/log/file-io.js';
import type { FlushPolicy } from '../../../dist/src/types.js';
import type { CrashMode } from './crash-image.js';
import { DB, openEngine, readBack } from './engine-harness.js';
import { matchingPrefix } from './enumerate.js';
import { SimFS, type Fault } from './sim-fs.js';
import { runWorkload, statesOf, type Workload } from './workload.js';

export interface FaultCaseResult {
  /** Error faults that fired (0 or 1), and how many of them reached the caller as ERR_EMDB_IO with their cause. */
  injected: number;
  surfaced: number;
  /** Short writes that fired, and how many were completed by writeFully with no error. */
  shortWrites: number;
  shortCompleted: number;
  /** Surfaced in-process as an EmdbError (the rest were raw fs errors the writer's reply wraps). */
  emdbInProcess: number;
  /** The engine refused writes after the fault until reopened. */
  refused: boolean;
  violations: string[];
}

const IMAGE_MODES: readonly CrashMode[] = ['dropUnsynced', 'keepPrefix'];

export function runFaultCase(workload: Workload, policy: FlushPolicy, fault: Fault, wrap: (sim: SimFS) => FileIO = (s) => s): FaultCaseResult {
  const sim = new SimFS({ faults: [fault], seed: fault.at });
  const run = runWorkload(wrap(sim), workload.steps, policy, { continueAfterError: true });
  const short = fault.code === 'short';
  const result: FaultCaseResult = {
    injected: short ? 0 : sim.faultsFired,
    surfaced: 0,
    shortWrites: short ? sim.faultsFired : 0,
    shortCompleted: 0,
    emdbInProcess: 0,
    refused: false,
    violations: [],
  };
  const violation = (msg: string): void => void result.violations.push(msg);
  const call = sim.log[fault.at - 1];
  const first = run.errors[0];
  if (short) {
    if (first) violation(`a short write surfaced as an error: ${String(first.error)}`);
    else if (run.applied === workload.states.length - 1) result.shortCompleted = result.shortWrites;
    else violation(`after a short write only ${run.applied} of ${workload.states.length - 1} units were applied`);
  } else if (!first) {
    if (result.injected > 0) violation('the fault was swallowed: no operation reported an error');
  } else {
    const injectedCode = fault.code === 'syncFail' ? 'EIO' : fault.code;
    const seen = first.error instanceof EmdbError ? first.error : deserializeError(serializeError(first.error));
    const causeCode = (seen.cause as { code?: string } | undefined)?.code;
    if (seen.code === ErrorCode.IO && causeCode === injectedCode) result.surfaced = result.injected;
    else violation(`surfaced as ${seen.code} / cause ${causeCode}, expected ${ErrorCode.IO} / ${injectedCode}: ${seen.message}`);
    const step = workload.steps[first.step]!;
    if (first.error instanceof EmdbError) result.emdbInProcess = result.injected;
    else if (step.t !== 'open' && step.t !== 'reopen') violation(`a raw ${String(first.error)} escaped the engine outside open`);
    // The log itself, not a side file such as the index snapshot (a cache: its failures are reported, the log is untouched).
    const onLog = call && call.file === DB && (call.op === 'write' || call.op === 'fdatasync') && (step.t === 'write' || step.t === 'flush' || step.t === 'checkpoint');
    const mustRefuse = onLog && (fault.code === 'syncFail' || call.op === 'fdatasync' || fault.code === 'EIO' || fault.code === 'EROFS');
    result.refused = first.refusing;
    if (mustRefuse && !first.refusing) violation(`the engine kept accepting writes after a failed ${call!.op} (${fault.code})`);
    if (first.refusing) checkRefusalUntilReopen(workload, run, first.step, first.error, 'persistent' in fault && fault.persistent, violation);
  }
  const states = statesOf([...run.units, ...run.inFlight]);
  // After a persistent fault nothing changed past the failing call: one image says it all.
  for (const mode of 'persistent' in fault && fault.persistent ? IMAGE_MODES.slice(0, 1) : IMAGE_MODES) {
    let engine;
    try {
      engine = openEngine(sim.crash(mode, fault.at), policy);
    } catch (err) {
      violation(`${mode} image after the fault does not open: ${String(err)}`);
      continue;
    }
    try {
      const { state, problems } = readBack(engine, workload.keys);
      if (problems.length > 0) violation(`${mode} image: ${problems.join('; ')}`);
      const p = matchingPrefix(states, state, run.durable, run.issued);
      if (typeof p === 'string') violation(`${mode} image: ${p}`);
    } finally {
      engine.close();
    }
  }
  return result;
}

/**
 * After the poisoning error: every later write step up to the next reopen is
 * refused with the same stored error; with a transient fault, a reopen that
 * follows brings writes back.
 */
function checkRefusalUntilReopen(
  workload: Workload,
  run: ReturnType<typeof runWorkload>,
  at: number,
  failure: unknown,
  persistent: boolean,
  violation: (msg: string) => void,
): void {
  const reopenAt = workload.steps.findIndex((s, i) => i > at && s.t === 'reopen');
  const end = reopenAt < 0 ? workload.steps.length : reopenAt;
  for (let i = at + 1; i < end; i++) {
    if (workload.steps[i]!.t !== 'write') continue;
    const err = run.errors.find((e) => e.step === i);
    if (!err) violation(`write step ${i} after the failure was accepted before a reopen`);
    else if (err.error !== failure) violation(`write step ${i} failed with a new error instead of the stored one: ${String(err.error)}`);
  }
  if (persistent || reopenAt < 0) return;
  const writesAfter = workload.steps.some((s, i) => i > reopenAt && s.t === 'write' && !run.errors.some((e) => e.step === i));
  if (!writesAfter) violation('writes did not resume after the reopen');
}
