/**
 * A seeded workload of about 100 operations (creation of the database, puts,
 * removes, insertMany chunks, transactions with removes, flushes, checkpoints,
 * close + reopen, a compaction), run against the writer engine in-process the
 * way workers/writer.ts drives it, while tracking what the caller was told:
 * which units were applied and which were acknowledged durable.
 */
import type { FileIO } from '../../../dist/src/log/file-io.js';
import type { FlushPolicy } from '../../../dist/src/types.js';
import { GroupFlusher } from '../../../dist/src/writer/group-flush.js';
import type { WriterEngine } from '../../../dist/src/writer/engine.js';
import { CompactionJob } from '../../../dist/src/writer/compaction-job.js';
import { rng } from '../rng.js';
import { applyUnit, encodeUnits, openEngine, type Del, type Put, type Unit } from './engine-harness.js';
import { harness } from './sorted-check.js';

export type Step =
  | { t: 'open' }
  /** One engine.append: the units one tick of producer calls coalesces into a batch. */
  | { t: 'write'; units: Unit[] }
  | { t: 'flush' }
  | { t: 'checkpoint' }
  | { t: 'reopen' }
  | { t: 'compact' }
  /** An incremental compaction: begin (tiny I/O chunks), steps between writes, then the swap. */
  | { t: 'compactBegin' }
  | { t: 'compactStep' }
  | { t: 'compactFinish' }
  | { t: 'close' };

export const POLICIES = {
  onEachFlush: { kind: 'onEachFlush' },
  // Every second flush request syncs for both (the leader/follower batch); the
  // timer never fires in a test, drain() at checkpoint/compact/close ends a batch.
  group: { kind: 'group', maxWaitMs: 3_600_000, maxBatch: 2 },
  writeThrough: { kind: 'writeThrough' },
} as const satisfies Record<string, FlushPolicy>;
export type PolicyName = keyof typeof POLICIES;

export interface Workload {
  steps: Step[];
  /** Model state after 0, 1, 2, ... units. */
  states: Map<string, string>[];
  /** Every key the workload touches (the point-read probe set). */
  keys: string[];
}

/** Options: `ops` operations in all; `compact` places one compaction two thirds in. */
export function generateWorkload(seed: number, ops = 100, compact = true): Workload {
  const r = rng(seed);
  const pick = (n: number): number => Math.floor(r() * n);
  const keys = Array.from({ length: 20 }, (_, i) => (i % 7 === 6 ? `key-${i}-`.padEnd(300, 'k') : `k${i}`));
  let serial = 0;
  const value = (): string => {
    const len = r() < 0.1 ? 1000 + pick(5000) : pick(200);
    let v = `${++serial}|`;
    while (v.length < len) v += String.fromCharCode(97 + pick(26));
    return v;
  };
  const put = (): Put => ({ t: 'put', k: keys[pick(keys.length)]!, v: value() });
  const del = (): Del => ({ t: 'del', k: keys[pick(keys.length)]! });
  const unit = (): Unit => {
    const x = r();
    if (x < 0.5) return put();
    if (x < 0.7) return del();
    if (x < 0.85) return { t: 'many', entries: Array.from({ length: 2 + pick(5) }, put) };
    return { t: 'tx', ops: Array.from({ length: 2 + pick(4) }, () => (r() < 0.7 ? put() : del())) };
  };
  const steps: Step[] = [{ t: 'open' }];
  for (let i = 1; i < ops - 1; i++) {
    if (i === Math.floor(ops / 3)) steps.push({ t: 'reopen' });
    else if (compact && i === Math.floor((ops * 2) / 3)) steps.push({ t: 'compact' });
    else if (i === Math.floor(ops / 2)) steps.push({ t: 'checkpoint' });
    else if (r() < 0.2) steps.push({ t: 'flush' });
    else steps.push({ t: 'write', units: Array.from({ length: r() < 0.7 ? 1 : 2 + pick(3) }, unit) });
  }
  steps.push({ t: 'flush' }, { t: 'close' });
  return workloadOf(steps, keys);
}

/** A workload from explicit steps: its model states and the keys it touches. */
export function workloadOf(steps: Step[], keys?: string[]): Workload {
  const units = steps.flatMap((s) => (s.t === 'write' ? s.units : []));
  const touched = new Set(keys ?? []);
  for (const u of units) for (const op of u.t === 'many' ? u.entries : u.t === 'tx' ? u.ops : [u]) touched.add(op.k);
  return { steps, states: statesOf(units), keys: [...touched] };
}

export interface RunOutcome {
  /** Units whose append returned, in order. */
  units: Unit[];
  /** Units of an append that was in flight when the run stopped (may or may not have landed). */
  inFlight: Unit[];
  applied: number;
  /** applied + in flight: the upper bound of what recovery may show. */
  issued: number;
  /** Units (a prefix of `units`) the caller was told are durable: the lower bound after a power loss. */
  durable: number;
  /** Every error a step (or a flush reply) reported, in order, and whether the engine was then refusing writes. */
  errors: { step: number; error: unknown; refusing: boolean }[];
  /** The first error, and the index of its step (steps.length when none). */
  error: unknown;
  stoppedAt: number;
  /** The engine as the run left it (open, poisoned, or undefined after close / failed open). */
  engine: WriterEngine | undefined;
  flusher: GroupFlusher | undefined;
}

export interface RunOptions {
  /** Carry on after an error (as an application that logs it would) instead of stopping. */
  continueAfterError?: boolean;
  /** Called before and after each step that did not throw (e.g. to snapshot files around compaction). */
  onStep?: (index: number, when: 'before' | 'after') => void;
}

/**
 * Runs `steps` on `io`. Durability acknowledgements follow the policy: a flush
 * acknowledges the units applied before it was requested, once its (possibly
 * shared) sync succeeded; checkpoint, compact and close acknowledge everything
 * before them; under writeThrough every returned append is durable. A failed
 * flush is reported the way the writer replies to it (the flusher's done
 * callback), and counts as that step's error.
 */
export function runWorkload(io: FileIO, steps: readonly Step[], policy: FlushPolicy, opts: RunOptions = {}): RunOutcome {
  const out: RunOutcome = {
    units: [],
    inFlight: [],
    applied: 0,
    issued: 0,
    durable: 0,
    errors: [],
    error: undefined,
    stoppedAt: steps.length,
    engine: undefined,
    flusher: undefined,
  };
  const requestedAt = new Map<number, number>();
  let job: CompactionJob | undefined;
  let nextId = 0;
  let flushError: unknown;
  const newFlusher = (engine: WriterEngine): GroupFlusher =>
    new GroupFlusher(policy, () => engine.flush(), () => engine.needsSync());
  const flushDone = (id: number, error?: unknown): void => {
    const at = requestedAt.get(id)!;
    requestedAt.delete(id);
    if (error === undefined) out.durable = Math.max(out.durable, at);
    else flushError ??= error;
  };
  const open = (): void => {
    // The page-cache variant: this run's engine is framed (engine-harness.ts); no other thread reads its descriptors.
    if (harness.cacheSize !== undefined) io.sharedDescriptors = true;
    out.engine = openEngine(io, policy);
    out.flusher = newFlusher(out.engine);
  };
  const settle = (): void => {
    out.flusher?.drain();
    if (flushError === undefined) out.durable = out.applied;
  };
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i]!;
    const engine = out.engine;
    if (!engine && step.t !== 'open' && step.t !== 'reopen') continue; // nothing open after a failed open
    try {
      opts.onStep?.(i, 'before');
      switch (step.t) {
        case 'open':
          open();
          break;
        case 'write': {
          const { batch, records } = encoded(step);
          out.inFlight = step.units;
          out.issued = out.applied + step.units.length;
          engine!.append(batch, true, records);
          out.inFlight = [];
          out.units.push(...step.units);
          out.applied = out.issued;
          if (policy.kind === 'writeThrough') out.durable = out.applied;
          break;
        }
        case 'flush': {
          const id = ++nextId;
          requestedAt.set(id, out.applied);
          out.flusher!.request((error) => flushDone(id, error));
          break;
        }
        case 'checkpoint':
          out.flusher!.drain();
          engine!.checkpoint();
          settle();
          break;
        case 'compact':
          out.flusher!.drain();
          engine!.compact();
          settle();
          break;
        case 'compactBegin': {
          const begun = engine!.beginCompaction(true, { writeChunk: 4096, syncEvery: 16384 });
          if (!(begun instanceof CompactionJob)) throw new Error('a forced compaction was skipped');
          job = begun;
          break;
        }
        case 'compactStep':
          if (!job) break; // its compaction failed to begin
          // A deadline already passed: one slice of work (a scan chunk or CLOCK_EVERY records), as a busy writer gets.
          try {
            job!.step(-Infinity);
          } catch (err) {
            engine!.abortCompaction(job!);
            job = undefined;
            throw err;
          }
          break;
        case 'compactFinish': {
          if (!job) break;
          const running = job;
          job = undefined;
          out.flusher!.drain();
          engine!.finishCompaction(running);
          settle();
          break;
        }
        case 'reopen':
        case 'close':
          if (engine) {
            out.flusher!.drain();
            out.engine = out.flusher = undefined;
            // A refusing engine closes without its checkpoint: nothing new becomes durable.
            const healthy = engine.failed === undefined;
            // A snapshot that could not be written does not fail the close (the log is durable): the public
            // close() reports it as a process warning, so the workload sees it as the error it surfaces as.
            const snapshotFailure = engine.close();
            if (healthy) settle();
            if (snapshotFailure) throw snapshotFailure;
          }
          if (step.t === 'reopen') open();
          break;
      }
      if (flushError !== undefined) throw flushError;
      opts.onStep?.(i, 'after');
    } catch (err) {
      flushError = undefined;
      out.errors.push({ step: i, error: err, refusing: out.engine?.failed !== undefined });
      if (out.error === undefined) {
        out.error = err;
        out.stoppedAt = i;
      }
      if (opts.continueAfterError) {
        out.inFlight = [];
        out.issued = out.applied;
        continue;
      }
      // A flush batch still waiting gets its outcome now (its sync fails or is refused): never acknowledged.
      try {
        out.flusher?.drain();
      } catch {
        // drain reports through the done callback
      }
      return out;
    }
  }
  // What the group timer would do later: no flush batch is left waiting (nor its timer pending).
  try {
    out.flusher?.drain();
  } catch {
    // drain reports through the done callback
  }
  return out;
}

/** Encoding cache: a write step's batch is the same bytes in every run (the engine never modifies it). */
const batches = new WeakMap<Step, ReturnType<typeof encodeUnits>>();

function encoded(step: Step & { t: 'write' }): ReturnType<typeof encodeUnits> {
  let e = batches.get(step);
  if (!e) batches.set(step, (e = encodeUnits(step.units)));
  return e;
}

/** Model states after 0, 1, 2, ... of `units`. */
export function statesOf(units: readonly Unit[]): Map<string, string>[] {
  const states = [new Map<string, string>()];
  for (const u of units) {
    const next = new Map(states[states.length - 1]!);
    applyUnit(next, u);
    states.push(next);
  }
  return states;
}
