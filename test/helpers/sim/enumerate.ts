/**
 * Crash-point enumeration: run a workload once to count its mutating I/O calls
 * (N), then for every k in 1..N+1 rerun it with the power cut at call k (which
 * does not complete; a write in flight may land in part; k = N+1: after the last
 * call), and for every damage mode × seed build the power-loss image, recover it
 * with a fresh engine and check the contract:
 *  - recovery succeeds (power loss never damages what was synced before the tail hint);
 *  - every record the index serves passes its CRC, iteration and point reads agree;
 *  - the state equals the model after some prefix of units p with
 *    durable ≤ p ≤ issued (units are whole: a partial transaction matches no prefix;
 *    a write in flight at the cut may land or not);
 *  - no orphan compaction temp file is left after the open;
 *  - for a sample: records appended after recovery survive a clean close and a
 *    further power loss.
 */
import type { FileIO } from '../../../dist/src/log/file-io.js';
import type { FlushPolicy } from '../../../dist/src/types.js';
import { CRASH_MODES, type CrashMode } from './crash-image.js';
import { DB, diffStates, encodeUnits, openEngine, readBack } from './engine-harness.js';
import { SimFS } from './sim-fs.js';
import { runWorkload, type RunOptions, type Workload } from './workload.js';

export interface EnumerationReport {
  /** Mutating calls of the uninterrupted workload (N); crash points are N + 1. */
  mutatingCalls: number;
  crashPoints: number;
  modes: number;
  seeds: number;
  statesChecked: number;
  /** Distinct images among them (identical images of one crash point are recovered once). */
  distinctImages: number;
  sampledAppends: number;
  /** Cases that recovered fewer units than were issued (unsynced work legitimately lost). */
  lostUnsynced: number;
  /** Cases whose recovery cut crash residue off the tail. */
  residueCut: number;
  violations: string[];
}

export type ExtraCheck = (image: SimFS, recovered: Map<string, string>) => string | undefined;

export interface EnumerationOptions {
  seeds: number;
  modes?: readonly CrashMode[];
  /** Wraps the simulated file system during the workload (planted mutants). */
  wrap?: (sim: SimFS) => FileIO;
  /** Every sample-th recovered image also checks appends after recovery (default 5). */
  sample?: number;
  /**
   * Per cut run: options for the run (hooks that observe it) and an extra check
   * of each recovered image of that run (e.g. which side of a compaction it is on).
   */
  perRun?: (sim: SimFS) => { options?: RunOptions; check?: ExtraCheck };
  /** Cap on violation messages kept (all are counted). */
  keep?: number;
}

export function enumerateCrashes(workload: Workload, policy: FlushPolicy, opts: EnumerationOptions): EnumerationReport & { violationCount: number } {
  const modes = opts.modes ?? CRASH_MODES;
  const wrap = opts.wrap ?? ((sim: SimFS) => sim);
  const counting = new SimFS();
  const clean = runWorkload(wrap(counting), workload.steps, policy);
  if (clean.error) throw new Error(`the workload fails without a crash: ${String(clean.error)}`);
  const n = counting.mutations;
  const report = { mutatingCalls: n, crashPoints: n + 1, modes: modes.length, seeds: opts.seeds, statesChecked: 0, distinctImages: 0, sampledAppends: 0, lostUnsynced: 0, residueCut: 0, violations: [] as string[], violationCount: 0 };
  const violation = (msg: string): void => {
    report.violationCount++;
    if (report.violations.length < (opts.keep ?? 20)) report.violations.push(msg);
  };
  let caseNo = 0;
  for (let k = 1; k <= n + 1; k++) {
    const sim = new SimFS({ cutAt: k });
    const observer = opts.perRun?.(sim);
    const run = runWorkload(wrap(sim), workload.steps, policy, observer?.options);
    if (k <= n && !sim.dead) {
      violation(`k=${k}: the run never reached its cut (${String(run.error)})`);
      continue;
    }
    if (run.error && !sim.dead) {
      violation(`k=${k}: workload failed before the cut: ${String(run.error)}`);
      continue;
    }
    const call = k <= n ? counting.log[k - 1] : undefined;
    const where = `k=${k}/${n}${call ? ` (before ${call.op} ${call.file})` : ' (after the last call)'}`;
    // Same crash point, same bounds: identical images have identical outcomes.
    const seen = new Map<string, CaseResult | string>();
    for (const mode of modes) {
      for (let s = 0; s < opts.seeds; s++) {
        const seed = k * 7919 + s * 104729 + modes.indexOf(mode) * 15485863;
        const image = sim.crash(mode, seed);
        report.statesChecked++;
        const key = image.fingerprint();
        let result = seen.get(key);
        const fresh = result === undefined;
        if (result === undefined) {
          report.distinctImages++;
          result = checkImage(image, workload, policy, run.durable, run.issued, ++caseNo % (opts.sample ?? 5) === 0, observer?.check);
          seen.set(key, result);
        }
        if (typeof result === 'string') {
          violation(`${where} ${mode} seed ${s}: ${result}`);
          continue;
        }
        if (fresh && result.sampled) report.sampledAppends++;
        if (result.prefix < run.issued) report.lostUnsynced++;
        if (result.residue) report.residueCut++;
      }
    }
  }
  return report;
}

interface CaseResult {
  prefix: number;
  residue: boolean;
  sampled: boolean;
}

/** Recovers `image` and checks the contract: what it recovered, or the violation. */
function checkImage(
  image: SimFS,
  workload: Workload,
  policy: FlushPolicy,
  durable: number,
  issued: number,
  sampleAppends: boolean,
  extraCheck: ExtraCheck | undefined,
): CaseResult | string {
  let engine;
  try {
    engine = openEngine(image, policy);
  } catch (err) {
    const e = err as { code?: string; message?: string };
    return `recovery failed: ${e.code ?? ''} ${e.message ?? String(err)}`;
  }
  try {
    const { state, problems } = readBack(engine, workload.keys);
    if (problems.length > 0) return problems.join('; ');
    const p = matchingPrefix(workload.states, state, durable, issued);
    if (typeof p === 'string') return p;
    if (image.exists(`${DB}.compact`)) return 'orphan .compact file left after open';
    const extra = extraCheck?.(image, state);
    if (extra) return extra;
    const result = { prefix: p, residue: engine.recovery?.residueAt !== undefined, sampled: sampleAppends };
    return (sampleAppends && appendsSurvive(engine, image, workload, policy, state)) || result;
  } finally {
    try {
      engine.close();
    } catch {
      // closed already by appendsSurvive
    }
  }
}

/** The prefix p in [lo, hi] whose model state equals `got`, or why none does. */
export function matchingPrefix(states: readonly Map<string, string>[], got: Map<string, string>, lo: number, hi: number): number | string {
  for (let p = hi; p >= lo; p--) if (diffStates(got, states[p]!) === undefined) return p;
  const other = states.findIndex((st) => diffStates(got, st) === undefined);
  const why = diffStates(got, states[lo]!);
  return `state matches no prefix in [${lo}, ${hi}] (${other >= 0 ? `it is prefix ${other}` : 'no prefix at all'}; vs ${lo}: ${why})`;
}

/** Appends after recovery, closes, cuts the power again (nothing unsynced) and expects them back. */
function appendsSurvive(engine: ReturnType<typeof openEngine>, image: SimFS, workload: Workload, policy: FlushPolicy, state: Map<string, string>): string | undefined {
  const extra = [
    { t: 'put' as const, k: 'after-recovery', v: 'a'.repeat(5000) },
    { t: 'put' as const, k: workload.keys[0]!, v: 'rewritten after recovery' },
  ];
  const { batch, records } = encodeUnits(extra);
  engine.append(batch, true, records);
  engine.close();
  const again = openEngine(image.crash('dropUnsynced', 1), policy);
  try {
    const want = new Map(state);
    for (const u of extra) want.set(u.k, u.v);
    const { state: got, problems } = readBack(again, [...workload.keys, 'after-recovery']);
    if (problems.length > 0) return `after appending post-recovery: ${problems.join('; ')}`;
    const diff = diffStates(got, want);
    return diff && `appends after recovery lost on the next reopen: ${diff}`;
  } finally {
    again.close();
  }
}
