/**
 * Power loss at every mutating I/O call of a backup (engine.startBackup, then
 * a chunk per step with writes to the live database between chunks, as the
 * writer interleaves them, then finish), × every damage mode of the simulated
 * file system × seeds, in two scenarios: the first backup into a directory
 * that does not exist yet, and a backup replacing a previous one. Checked on
 * every power-loss image:
 *  - the target holds nothing (first backup only), the previous backup, or the
 *    complete new backup (the state at startBackup, no crash residue, tail hint
 *    = file size) — never a part of one; once finish() returned, the new one;
 *  - the source recovers to a whole-unit prefix between what was acknowledged
 *    durable and what was issued, and its bytes from before the backup are
 *    byte-identical (the backup never writes the source);
 *  - for a sample: a new backup after recovery succeeds, removes the orphan
 *    temp file, and holds the recovered source state.
 *
 * Planted mutants, each must be caught: the temp file renamed without its
 * fdatasync, and the rename without its directory fsync.
 *
 * Fault injection: EIO / ENOSPC / EROFS at each I/O call of a backup (a short
 * write at each write) → the backup fails with ERR_EMDB_IO carrying the
 * injected code (a short write is completed instead), the database keeps
 * accepting writes, the temp file is gone, and the target holds the previous
 * backup — or, for a fault after the rename, the new one.
 */
import { describe, expect, it } from 'vitest';
import type { FileIO } from '../../dist/src/log/file-io.js';
import type { WriterEngine } from '../../dist/src/writer/engine.js';
import { scaled } from '../helpers/common.js';
import { CRASH_MODES, type CrashMode } from '../helpers/sim/crash-image.js';
import { DB, diffStates, encodeUnits, openEngine, readBack, type Unit } from '../helpers/sim/engine-harness.js';
import { matchingPrefix } from '../helpers/sim/enumerate.js';
import { overrideIO, SimFS, type Fault, type FaultCode } from '../helpers/sim/sim-fs.js';
import { EmdbError, ErrorCode } from '../../dist/src/errors.js';
import { statesOf } from '../helpers/sim/workload.js';
import { rng } from '../helpers/rng.js';

const SEEDS = scaled(3);
const POLICY = { kind: 'onEachFlush' } as const;
const TARGET = '/backups/nightly/db-backup.emdb';
/** Every backup's temp file starts with this (the rest is unique per backup). */
const TEMP = `${TARGET}.backup-tmp`;
const tempsIn = (fs: SimFS): string[] => fs.list('/backups/nightly').filter((n) => `/backups/nightly/${n}`.startsWith(TEMP));
/** Small chunks: several copy steps (and writes between them) per backup. */
const CHUNK = 16 << 10;

interface Scenario {
  label: string;
  previous: boolean;
}

/** Units before the backup (`before`), and units written while it copies (`during`). */
function makeUnits(seed: number): { before: Unit[]; during: Unit[]; keys: string[] } {
  const r = rng(seed);
  const keys = Array.from({ length: 24 }, (_, i) => `key-${i}`);
  let serial = 0;
  const put = (): Unit => ({ t: 'put', k: keys[Math.floor(r() * keys.length)]!, v: `${++serial}|`.padEnd(200 + Math.floor(r() * 3000), 'v') });
  const unit = (): Unit => {
    const x = r();
    if (x < 0.6) return put();
    if (x < 0.75) return { t: 'del', k: keys[Math.floor(r() * keys.length)]! };
    return { t: 'many', entries: Array.from({ length: 2 + Math.floor(r() * 4) }, () => put() as Extract<Unit, { t: 'put' }>) };
  };
  return { before: Array.from({ length: 40 }, unit), during: Array.from({ length: 12 }, unit), keys };
}

function append(engine: WriterEngine, units: Unit[]): void {
  const { batch, records } = encodeUnits(units);
  engine.append(batch, true, records);
}

interface Run {
  /** Mutating calls made before the backup started (the setup; never cut). */
  setupCalls: number;
  /** Source units applied / acknowledged durable (indexes into `units`). */
  applied: number;
  durable: number;
  issued: number;
  finished: boolean;
  /** The source's durable bytes when the backup started. */
  sourceBefore: Uint8Array | undefined;
  error: unknown;
}

/**
 * Setup (create, write, checkpoint, optionally a complete previous backup of the
 * first half, more writes, flush), then the backup with writes between its steps.
 */
function runScenario(io: FileIO, sim: SimFS, scenario: Scenario, units: ReturnType<typeof makeUnits>): Run {
  const run: Run = { setupCalls: 0, applied: 0, durable: 0, issued: 0, finished: false, sourceBefore: undefined, error: undefined };
  const half = units.before.length / 2;
  try {
    const engine = openEngine(io, POLICY);
    append(engine, units.before.slice(0, half));
    engine.checkpoint();
    if (scenario.previous) {
      const job = engine.startBackup(TARGET);
      while (!job.step(CHUNK));
      job.finish();
    }
    append(engine, units.before.slice(half));
    engine.flush();
    run.applied = run.durable = run.issued = units.before.length;
    run.setupCalls = sim.mutations;
    // The log: the zeros preallocated past it are space the writes during the backup fill, not source bytes.
    run.sourceBefore = sim.durableFile(DB)?.subarray(0, engine.stats().fileBytes);
    const job = engine.startBackup(TARGET);
    let next = 0;
    while (!job.step(CHUNK)) {
      const u = units.during[next++];
      if (!u) continue;
      run.issued++;
      append(engine, [u]);
      run.applied++;
      if (next % 2 === 0) {
        engine.flush();
        run.durable = run.applied;
      }
    }
    job.finish();
    run.finished = true;
  } catch (err) {
    run.error = err;
  }
  return run;
}

interface Report {
  crashPoints: number;
  states: number;
  onPrevious: number;
  onNew: number;
  absent: number;
  rebackups: number;
  violations: string[];
}

interface EnumerateOptions {
  wrap?: (sim: SimFS) => FileIO;
  modes?: readonly CrashMode[];
  seeds?: number;
}

function enumerate(scenario: Scenario, opts: EnumerateOptions = {}): Report {
  const wrap = opts.wrap ?? ((s: SimFS) => s);
  const modes = opts.modes ?? CRASH_MODES;
  const seeds = opts.seeds ?? SEEDS;
  const units = makeUnits(scenario.previous ? 11 : 12);
  const sourceStates = statesOf([...units.before, ...units.during]);
  const half = units.before.length / 2;
  const previousState = sourceStates[half]!;
  const newState = sourceStates[units.before.length]!;
  const counting = new SimFS();
  const clean = runScenario(wrap(counting), counting, scenario, units);
  if (!clean.finished) throw new Error(`the scenario fails without a crash: ${String(clean.error)}`);
  const total = counting.mutations;
  const report: Report = { crashPoints: 0, states: 0, onPrevious: 0, onNew: 0, absent: 0, rebackups: 0, violations: [] };
  let caseNo = 0;
  for (let k = clean.setupCalls + 1; k <= total + 1; k++) {
    report.crashPoints++;
    const sim = new SimFS({ cutAt: k });
    const run = runScenario(wrap(sim), sim, scenario, units);
    if (k <= total && !sim.dead) {
      report.violations.push(`k=${k}: the run did not stop at the cut (${String(run.error)})`);
      continue;
    }
    const call = counting.log[k - 1];
    const where = `k=${k}/${total}${call ? ` (before ${call.op} ${call.file})` : ' (after the last call)'}`;
    for (const mode of modes) {
      for (let s = 0; s < seeds; s++) {
        report.states++;
        const image = sim.crash(mode, k * 7919 + s * 104729 + CRASH_MODES.indexOf(mode));
        const problem = checkImage(image, scenario, run, { previousState, newState, sourceStates, keys: units.keys }, report, ++caseNo % 7 === 0);
        if (problem) report.violations.push(`${where} ${mode} seed ${s}: ${problem}`);
      }
    }
  }
  return report;
}

interface Expect {
  previousState: Map<string, string>;
  newState: Map<string, string>;
  sourceStates: Map<string, string>[];
  keys: string[];
}

function checkImage(image: SimFS, scenario: Scenario, run: Run, want: Expect, report: Report, rebackup: boolean): string | undefined {
  // The target.
  if (!image.exists(TARGET)) {
    if (scenario.previous) return 'the previous backup is gone';
    if (run.finished) return 'an acknowledged backup is missing';
    report.absent++;
  } else {
    let target: WriterEngine;
    try {
      target = openEngine(image, POLICY, TARGET);
    } catch (err) {
      return `the target does not open (a partial backup?): ${String(err)}`;
    }
    const { state, problems } = readBack(target, want.keys);
    if (problems.length > 0) return `target: ${problems.join('; ')}`;
    const isNew = diffStates(state, want.newState) === undefined;
    const isPrevious = scenario.previous && diffStates(state, want.previousState) === undefined;
    if (!isNew && !isPrevious) return `the target holds neither the previous nor the new backup: ${diffStates(state, want.newState)}`;
    if (run.finished && !isNew) return 'an acknowledged backup was replaced by the previous one';
    if (target.recovery?.residueAt !== undefined) return `the target had crash residue at ${target.recovery.residueAt}`;
    if (target.stats().tailHint !== target.stats().fileBytes) return 'the target is longer than its tail hint';
    if (isNew) report.onNew++;
    else report.onPrevious++;
  }
  // The source.
  const bytes = image.durableFile(DB);
  const before = run.sourceBefore!;
  if (!bytes || bytes.length < before.length || !Buffer.from(bytes.subarray(0, before.length)).equals(Buffer.from(before))) {
    return 'the source bytes from before the backup changed';
  }
  let source: WriterEngine;
  try {
    source = openEngine(image, POLICY);
  } catch (err) {
    return `the source does not open: ${String(err)}`;
  }
  const { state, problems } = readBack(source, want.keys);
  if (problems.length > 0) return `source: ${problems.join('; ')}`;
  const p = matchingPrefix(want.sourceStates, state, run.durable, run.issued);
  if (typeof p === 'string') return `source: ${p}`;
  if (!rebackup) return undefined;
  // A backup after recovery replaces whatever is there and leaves no temp file behind.
  report.rebackups++;
  try {
    const job = source.startBackup(TARGET);
    while (!job.step(CHUNK));
    job.finish();
  } catch (err) {
    return `a backup after recovery failed: ${String(err)}`;
  }
  if (tempsIn(image).length > 0) return 'the temp file is still there after a later backup';
  const again = openEngine(image, POLICY, TARGET);
  const diff = diffStates(readBack(again, want.keys).state, want.sourceStates[p]!);
  return diff && `the backup after recovery differs from the source: ${diff}`;
}

function line(label: string, r: Report, ms: number): string {
  return (
    `[crash-enumeration-backup] ${label}: ${r.crashPoints} crash points, ${r.states} states (× modes × seeds): ` +
    `${r.onNew} on the new backup, ${r.onPrevious} on the previous one, ${r.absent} with no target yet, ${r.rebackups} backups after recovery, ` +
    `${r.violations.length} violations (${ms} ms)`
  );
}

describe('power loss at every I/O call of backupTo', () => {
  const scenarios: Scenario[] = [
    { label: 'first backup, into a new directory', previous: false },
    { label: 'replacing a previous backup', previous: true },
  ];
  for (const scenario of scenarios) {
    it(`${scenario.label}: nothing / the previous / the whole new backup, never a part; the source untouched`, () => {
      const started = Date.now();
      const report = enumerate(scenario);
      console.log(line(scenario.label, report, Date.now() - started));
      expect(report.violations.slice(0, 10)).toEqual([]);
      expect(report.crashPoints).toBeGreaterThan(15);
      expect(report.onNew).toBeGreaterThan(0);
      if (scenario.previous) expect(report.onPrevious).toBeGreaterThan(0);
      else expect(report.absent).toBeGreaterThan(0);
      expect(report.rebackups).toBeGreaterThan(0);
    });
  }

  it('planted mutants are caught: rename without the temp fdatasync, rename without the directory fsync', () => {
    const noTempSync = (sim: SimFS): FileIO => {
      const fdsOfTemp = new Set<number>();
      return overrideIO(sim, {
        open: (file, flags) => {
          const fd = sim.open(file, flags);
          if (file.startsWith(TEMP)) fdsOfTemp.add(fd);
          return fd;
        },
        fdatasync: (fd) => (fdsOfTemp.has(fd) ? undefined : sim.fdatasync(fd)),
      });
    };
    const noDirSync = (sim: SimFS): FileIO => overrideIO(sim, { fsyncDir: (dir) => (dir === '/backups/nightly' ? undefined : sim.fsyncDir(dir)) });
    for (const [label, wrap] of [['no temp fdatasync', noTempSync], ['no directory fsync', noDirSync]] as const) {
      // The two harshest modes and one seed are enough to catch them.
      const report = enumerate({ label, previous: true }, { wrap, modes: ['dropUnsynced', 'keepPrefix'], seeds: 1 });
      console.log(`${line(`MUTANT ${label}`, report, 0)}; first: ${report.violations[0]}`);
      expect(report.violations.length, label).toBeGreaterThan(0);
    }
  });

  it('an I/O error at any call of a backup fails only the backup: ERR_EMDB_IO with its cause, writes go on, no temp file, the target whole', () => {
    const units = makeUnits(13);
    const states = statesOf(units.before);
    const half = units.before.length / 2;
    /** Previous backup of the first half, then the rest, then the backup under test; returns the backup's error. */
    const scenario = (sim: SimFS): { error: unknown; calls: [number, number]; engine: WriterEngine } => {
      const engine = openEngine(sim, POLICY);
      append(engine, units.before.slice(0, half));
      const first = engine.startBackup(TARGET);
      while (!first.step(CHUNK));
      first.finish();
      append(engine, units.before.slice(half));
      engine.flush();
      const from = sim.mutations + 1;
      let error: unknown;
      try {
        const job = engine.startBackup(TARGET);
        while (!job.step(CHUNK));
        job.finish();
      } catch (err) {
        error = err;
      }
      return { error, calls: [from, sim.mutations], engine };
    };
    const clean = new SimFS();
    const { calls } = scenario(clean);
    const problems: string[] = [];
    let cases = 0;
    let afterRename = 0;
    for (let n = calls[0]; n <= calls[1]; n++) {
      const op = clean.log[n - 1]!;
      const faults: Fault[] = (['EIO', 'ENOSPC', 'EROFS'] as FaultCode[]).map((code) => ({ at: n, code, persistent: false }));
      if (op.op === 'write') faults.push({ at: n, code: 'short' });
      for (const fault of faults) {
        cases++;
        const sim = new SimFS({ faults: [fault], seed: n });
        const { error, engine } = scenario(sim);
        const label = `call ${n} (${op.op} ${op.file}) ${fault.code}`;
        const renamed = clean.log.slice(calls[0] - 1, n - 1).some((c) => c.op === 'rename');
        if (fault.code === 'short') {
          if (error) problems.push(`${label}: a short write surfaced: ${String(error)}`);
        } else if (!(error instanceof EmdbError) || error.code !== ErrorCode.IO || (error.cause as { code?: string })?.code !== fault.code) {
          problems.push(`${label}: got ${String(error)}`);
        }
        if (engine.failed) problems.push(`${label}: the database refuses writes after a failed backup`);
        append(engine, [{ t: 'put', k: 'after-the-backup', v: 'still writable' }]);
        if (tempsIn(sim).length > 0) problems.push(`${label}: temp file left behind`);
        const want = fault.code === 'short' || renamed ? states[units.before.length]! : states[half]!;
        if (renamed && fault.code !== 'short') afterRename++;
        const diff = diffStates(readBack(openEngine(sim, POLICY, TARGET), units.keys).state, want);
        if (diff) problems.push(`${label}: target: ${diff}`);
      }
    }
    console.log(`[crash-enumeration-backup] faults: ${cases} cases over ${calls[1] - calls[0] + 1} backup calls, ${afterRename} after the rename, ${problems.length} violations`);
    expect(problems.slice(0, 10)).toEqual([]);
    expect(afterRename).toBeGreaterThan(0);
  });
});
