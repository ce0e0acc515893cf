/**
 * Model-based test with power loss: fast-check command sequences (batches of
 * puts and removes, insertMany chunks, committing and throwing transactions
 * across namespaces, clear, namespace drop, flush, checkpoint, compact,
 * close + reopen, full-state checks) drive the writer engine in-process over the
 * simulated file system (test/sim), and crash commands cut the power, between
 * two commands or at the n-th mutating I/O call of a later command, in each of
 * the simulator's damage modes. After every crash a fresh engine recovers the
 * image; its state must equal the model after some prefix of the operations at
 * or after the last acknowledged durable point, on a unit boundary (a batch's
 * records one by one, a transaction or insertMany chunk whole), every served
 * record must pass its CRC, and the run then carries on from the recovered state.
 * One property per flush policy; a planted mutant (fdatasync does nothing) must
 * be caught.
 *
 * The seed is printed; EMDB_SEED=<n> replays (the torture tier draws a fresh one).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FileIO } from '../../dist/src/log/file-io.js';
import { scaled, TORTURE_FACTOR } from '../helpers/common.js';
import { CRASH_COMMAND_NAMES, crashCommands, expectVisible, newFigures, startEngine, type CrashFigures, type CrashReal } from '../helpers/model/crash-commands.js';
import { KvModel } from '../helpers/model/kv-model.js';
import { PowerSwitch } from '../helpers/model/power-switch.js';
import { overrideIO, SimFS } from '../helpers/sim/sim-fs.js';
import { POLICIES, type PolicyName } from '../helpers/sim/workload.js';

const SEED = process.env.EMDB_SEED ? Number(process.env.EMDB_SEED) : TORTURE_FACTOR > 1 ? Date.now() % 0x7fffffff : 20261127;
const RUNS = scaled(60);
const MAX_COMMANDS = 60;

/** Builds one run's system: a fresh simulated disk, the database created on it. */
function setup(policy: PolicyName, figures: CrashFigures, wrap: (io: FileIO) => FileIO): { model: KvModel; real: CrashReal } {
  const sim = new SimFS();
  const model = new KvModel();
  const real = {
    policy: POLICIES[policy],
    sim,
    io: new PowerSwitch(sim),
    wrap,
    waiting: new Map(),
    nextToken: 0,
    epoch: 0,
    flushError: undefined,
    figures,
  } as unknown as CrashReal; // engine and flusher: set by startEngine just below
  startEngine(model, real);
  // Creation is acknowledged once open returns (file synced, directory synced).
  model.markDurable();
  return { model, real };
}

/** Ends a run: no cut pending, a clean close, a reopen that must show the visible state. */
function finish(model: KvModel, real: CrashReal): void {
  real.io.disarm();
  real.flusher.drain();
  real.engine.close();
  startEngine(model, real);
  expectVisible(model, real, 'final close + reopen');
  real.engine.close();
}

function runProperty(policy: PolicyName, figures: CrashFigures, wrap: (io: FileIO) => FileIO, runs: number, seed: number) {
  const property = fc.property(fc.commands(crashCommands, { maxCommands: MAX_COMMANDS, size: 'max' }), (cmds) => {
    const { model, real } = setup(policy, figures, wrap);
    try {
      fc.modelRun(() => ({ model, real }), cmds);
      finish(model, real);
    } finally {
      try {
        real.flusher.drain(); // a group-flush timer must not outlive the run
      } catch {
        // the run already failed or ended
      }
    }
  });
  fc.assert(property, { seed, numRuns: runs, endOnFailure: runs > 50 ? false : true });
}

function summary(f: CrashFigures): string {
  const total = [...f.commands.values()].reduce((a, b) => a + b, 0);
  const crashes = [...f.crashes.values()].reduce((a, b) => a + b, 0);
  const modes = [...f.crashes].map(([m, n]) => `${m} ${n}`).join(', ');
  return `${total} commands, ${crashes} crashes recovered (${f.cutsFired} cut inside a command; ${modes}), ${f.lostUnsynced} lost unsynced work`;
}

describe('model-based with power loss: the engine on the simulated file system against the model', () => {
  for (const policy of Object.keys(POLICIES) as PolicyName[]) {
    it(`${policy}: every crash recovers an allowed state and the run carries on (seed ${SEED})`, () => {
      const figures = newFigures();
      const started = Date.now();
      runProperty(policy, figures, (io) => io, RUNS, SEED);
      console.log(`[model-crash] ${policy} seed ${SEED} (EMDB_SEED to replay): ${RUNS} runs, ${summary(figures)}, 0 violations (${Date.now() - started} ms)`);
      expect([...figures.commands.keys()].sort()).toEqual([...CRASH_COMMAND_NAMES].sort());
      expect(figures.cutsFired).toBeGreaterThan(0);
      if (policy !== 'writeThrough') expect(figures.lostUnsynced).toBeGreaterThan(0);
    });
  }

  /** Planted mutants the property must catch: no fdatasync at all, or flush/checkpoint that do not sync the log. */
  const mutants: Record<string, (io: FileIO) => FileIO> = {
    'fdatasync does nothing': (io) => overrideIO(io, { fdatasync: () => undefined }),
    'flush and checkpoint do not sync the log': (io) => {
      // Only the log's own read-write descriptor lies; creation and compaction files still sync.
      const logFds = new Set<number>();
      return overrideIO(io, {
        open: (file, flags) => {
          const fd = io.open(file, flags);
          if (flags === 'r+') logFds.add(fd);
          return fd;
        },
        fdatasync: (fd) => {
          if (!logFds.has(fd)) io.fdatasync(fd);
        },
      });
    },
  };
  for (const [name, wrap] of Object.entries(mutants)) {
    it(`planted mutant (${name}) is caught`, () => {
      let caught: unknown;
      try {
        runProperty('onEachFlush', newFigures(), wrap, RUNS, SEED);
      } catch (err) {
        caught = err;
      }
      const counterexample = String(caught).split('\n').find((l) => l.startsWith('Counterexample')) ?? '';
      const reason = String((caught as { cause?: unknown } | undefined)?.cause ?? caught).slice(0, 400);
      console.log(`[model-crash] mutant (${name}): ${caught ? 'caught' : 'NOT caught'}: ${reason}; ${counterexample}`);
      expect(caught).toBeDefined();
      expect(reason, 'caught by the crash contract, not by an incidental error').toMatch(/allowed states|recovery after/);
    });
  }
});
