/**
 * The system under test of the model-based crash test: the writer engine on a
 * simulated disk behind a PowerSwitch, its flush-request bookkeeping, and what
 * happens at a power loss (image, recovery, contract check, carrying on).
 */
import type { FileIO } from '../../../dist/src/log/file-io.js';
import type { FlushPolicy } from '../../../dist/src/types.js';
import { GroupFlusher } from '../../../dist/src/writer/group-flush.js';
import type { WriterEngine } from '../../../dist/src/writer/engine.js';
import { diffDbStates, readEngineState, type DbState } from '../../../dist/test/helpers/engine-state.js';
import type { CrashMode } from '../sim/crash-image.js';
import { openEngine } from '../sim/engine-harness.js';
import type { SimFS } from '../sim/sim-fs.js';
import { toBin, type KvModel } from './kv-model.js';
import { PowerSwitch } from './power-switch.js';

export interface CrashReal {
  policy: FlushPolicy;
  sim: SimFS;
  io: PowerSwitch;
  /** Wraps each new switch (planted mutants). */
  wrap: (io: FileIO) => FileIO;
  engine: WriterEngine;
  flusher: GroupFlusher;
  /** Outcome of flush request `token` (a sync's result, or an immediate answer when nothing was unsynced). */
  flushDone: (token: number, error?: unknown) => void;
  /** Flush requests waiting for their sync: token → the model state at the request. */
  waiting: Map<number, DbState>;
  nextToken: number;
  /** Bumped at every engine (re)start: an older engine's flush outcome is ignored. */
  epoch: number;
  /** A flush that failed for a reason other than the power cut (a contract violation). */
  flushError: unknown;
  figures: CrashFigures;
}

export interface CrashFigures {
  commands: Map<string, number>;
  crashes: Map<CrashMode, number>;
  /** Power cuts that fired inside a command (the other crashes fell between commands). */
  cutsFired: number;
  /** Recoveries that came back with fewer units than were issued (unsynced work lost). */
  lostUnsynced: number;
  recoveries: number;
}

export const newFigures = (): CrashFigures => ({ commands: new Map(), crashes: new Map(), cutsFired: 0, lostUnsynced: 0, recoveries: 0 });

/** Thrown when a recovered image breaks the contract; carries the reason. */
export class CrashViolation extends Error {}

/** Reads the whole engine state as readers would and compares it with the visible model. */
export function expectVisible(m: KvModel, r: CrashReal, label: string): void {
  const { state, problems } = readEngineState(r.engine);
  if (problems.length > 0) throw new CrashViolation(`${label}: ${problems.join('; ')}`);
  const diff = diffDbStates(state, toBin(m.visible));
  if (diff) throw new CrashViolation(`${label}: state differs from the visible model: ${diff}`);
}

/** Opens (or reopens) the engine on the current switch, with a fresh flusher tied to a new epoch. */
export function startEngine(m: KvModel, r: CrashReal): void {
  r.epoch++;
  r.waiting.clear();
  r.engine = openEngine(r.wrap(r.io), r.policy);
  const epoch = r.epoch;
  const engine = r.engine;
  r.flusher = new GroupFlusher(r.policy, () => engine.flush(), () => engine.needsSync());
  r.flushDone = (token: number, error?: unknown): void => {
    if (r.epoch !== epoch) return;
    const requested = r.waiting.get(token);
    r.waiting.delete(token);
    if (error !== undefined) {
      if (!r.io.dead) r.flushError = error;
      return;
    }
    else if (requested) {
      // Everything up to the state at the request is durable now (a group sync may ack late).
      const at = m.since.indexOf(requested);
      if (at > 0) m.markDurableAt(at);
    }
  };
}

/**
 * The power fails now: the image a crash in `mode` leaves is recovered by a fresh
 * engine, which must come back with one of the model's allowed states, every
 * served record intact. The run continues on the recovered image.
 */
export function recoverFromCrash(m: KvModel, r: CrashReal, mode: CrashMode, seed: number): void {
  r.epoch++; // outcomes of the dead engine's flushes no longer count
  r.io.dead = true; // and a flush still waiting must not sync anything before the image is taken
  try {
    r.flusher.drain();
  } catch {
    // the dead engine's sync fails; only its timer had to go
  }
  const image = r.sim.crash(mode, seed);
  r.sim = image;
  r.io = new PowerSwitch(image);
  try {
    startEngine(m, r);
  } catch (err) {
    throw new CrashViolation(`recovery after ${mode} (seed ${seed}) failed: ${(err as { code?: string }).code ?? ''} ${String(err)}`);
  }
  const { state, problems } = readEngineState(r.engine);
  if (problems.length > 0) throw new CrashViolation(`after ${mode} (seed ${seed}): ${problems.join('; ')}`);
  let match = -1;
  for (let i = m.since.length - 1; i >= 0 && match < 0; i--) if (diffDbStates(state, toBin(m.since[i]!)) === undefined) match = i;
  if (match < 0) {
    throw new CrashViolation(
      `after ${mode} (seed ${seed}) the state matches none of the ${m.since.length} allowed states; ` +
        `vs durable: ${diffDbStates(state, toBin(m.durable))}; vs visible: ${diffDbStates(state, toBin(m.visible))}`,
    );
  }
  r.figures.recoveries++;
  r.figures.crashes.set(mode, (r.figures.crashes.get(mode) ?? 0) + 1);
  if (match < m.since.length - 1) r.figures.lostUnsynced++;
  m.reset(m.since[match]!);
}
