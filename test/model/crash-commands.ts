/**
 * fast-check commands for the model-based test with power loss: the writer
 * engine runs in-process over the simulated file system (test/sim), driven the
 * way workers/writer.ts drives it (framed batches from RecordBuffer, flush
 * requests through the GroupFlusher, drain before checkpoint/compact/close),
 * next to the reference model.
 *
 * Every mutating command advances the model first (one boundary per unit it
 * writes), then does its I/O. A power cut in the middle therefore leaves the
 * model's `since` list holding exactly what a recovery may show: any boundary
 * from the durable point up to and including the effect of the interrupted
 * command. Durability is acknowledged only after the call that provides it
 * returned (flush done callback, checkpoint, compact, close).
 */
import fc from 'fast-check';
import { RecordBuffer } from '../../dist/src/core/record-buffer.js';
import { RecordKind } from '../../dist/src/format/constants.js';
import type { FileIO } from '../../dist/src/log/file-io.js';
import type { FlushPolicy } from '../../dist/src/protocol.js';
import { GroupFlusher } from '../../dist/src/writer/group-flush.js';
import type { WriterEngine } from '../../dist/src/writer/engine.js';
import { diffDbStates, readEngineState, type DbState } from '../../dist/test/fixtures/engine-state.js';
import { CRASH_MODES, type CrashMode } from '../sim/crash-image.js';
import { openEngine } from '../sim/engine-harness.js';
import type { SimFS } from '../sim/sim-fs.js';
import { DEFAULT_NS, KvModel, toBin } from './kv-model.js';
import { PowerSwitch } from './power-switch.js';

export interface CrashReal {
  policy: FlushPolicy;
  sim: SimFS;
  io: PowerSwitch;
  /** Wraps each new switch (planted mutants). */
  wrap: (io: FileIO) => FileIO;
  engine: WriterEngine;
  flusher: GroupFlusher;
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

type Cmd = fc.Command<KvModel, CrashReal>;

/** Thrown when a recovered image breaks the contract; carries the reason. */
export class CrashViolation extends Error {}

const KEYS = ['a', 'b', 'c', 'key-1', 'ключ', 'k'.repeat(200)];
const NAMESPACES = [DEFAULT_NS, DEFAULT_NS, 'alpha', 'βeta'];
const key = fc.constantFrom(...KEYS);
const ns = fc.constantFrom(...NAMESPACES);
const namedNs = fc.constantFrom('alpha', 'βeta');
// Large values make a batch span several 4 KiB sectors, so the sector modes bite.
const value = fc.oneof(
  { weight: 5, arbitrary: fc.string({ maxLength: 20, unit: 'grapheme' }) },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 12_000 }).map((n) => 'x'.repeat(n)) },
);
const mode = fc.constantFrom(...CRASH_MODES);
const seed = fc.integer({ min: 1, max: 0x7fffffff });

function ensureNamespace(m: KvModel, r: CrashReal, name: string): number {
  if (name === DEFAULT_NS) return 0;
  if (m.visible.has(name)) return r.engine.namespace(name, false);
  m.space(name);
  m.boundary();
  const id = r.engine.namespace(name, true);
  appended(m, r);
  return id;
}

function append(m: KvModel, r: CrashReal, rb: RecordBuffer): Uint8Array | undefined {
  const { payload, bytes, count } = rb.take();
  const existed = r.engine.append(new Uint8Array(payload, 0, bytes), true, count);
  appended(m, r);
  return existed;
}

/** Under writeThrough an append that returned is acknowledged durable (O_DSYNC). */
function appended(m: KvModel, r: CrashReal): void {
  if (r.policy.kind === 'writeThrough') m.markDurable();
}

function record(rb: RecordBuffer, nsId: number, k: string, v: string | null): void {
  rb.append(v === null ? RecordKind.TOMBSTONE : RecordKind.PUT, nsId, k, Buffer.byteLength(k), v, 0);
}

/** Counts the command and turns a power cut inside it into a crash + recovery check. */
abstract class CrashCommand implements Cmd {
  check(): boolean {
    return true;
  }
  run(m: KvModel, r: CrashReal): void {
    const name = this.constructor.name;
    r.figures.commands.set(name, (r.figures.commands.get(name) ?? 0) + 1);
    try {
      this.act(m, r);
    } catch (err) {
      // The engine wraps the cut as ERR_EMDB_IO (its cause); what counts is that the power is off.
      if (!r.io.dead) throw err;
    }
    if (r.flushError !== undefined) throw new CrashViolation(`${this}: flush failed: ${String(r.flushError)}`);
    // A cut inside a flush's sync is reported through the flusher, not thrown: check the switch.
    if (r.io.dead) {
      r.figures.cutsFired++;
      recoverFromCrash(m, r, r.io.cutMode, r.io.cutSeed);
    }
  }
  protected abstract act(m: KvModel, r: CrashReal): void;
  abstract toString(): string;
}

class Put extends CrashCommand {
  constructor(readonly ns: string, readonly ops: { key: string; value: string | null }[]) {
    super();
  }
  act(m: KvModel, r: CrashReal) {
    const id = ensureNamespace(m, r, this.ns);
    const rb = new RecordBuffer();
    const entries = m.space(this.ns);
    // One batch of independent records (coalesced calls): each record is a unit of its own.
    const want = this.ops.map((op) => {
      const existed = entries.has(op.key) ? 1 : 0;
      if (op.value === null) entries.delete(op.key);
      else entries.set(op.key, op.value);
      m.boundary();
      record(rb, id, op.key, op.value);
      return existed;
    });
    const existed = append(m, r, rb);
    if (String([...existed!]) !== String(want)) throw new CrashViolation(`${this}: existed ${String([...existed!])}, model ${String(want)}`);
  }
  toString() {
    return `batch(${JSON.stringify(this.ns)}: ${this.ops.map((o) => `${o.value === null ? '-' : '+'}${o.key.slice(0, 5)}`).join(' ')})`;
  }
}

/** insertMany chunk or committed transaction: TX_BEGIN … TX_COMMIT, one unit across namespaces. */
class Atomic extends CrashCommand {
  constructor(readonly ops: { ns: string; key: string; value: string | null }[], readonly label: 'insertMany' | 'tx') {
    super();
  }
  act(m: KvModel, r: CrashReal) {
    const ids = this.ops.map((op) => ensureNamespace(m, r, op.ns));
    const rb = new RecordBuffer();
    rb.beginTx();
    this.ops.forEach((op, i) => {
      record(rb, ids[i]!, op.key, op.value);
      if (op.value === null) m.space(op.ns).delete(op.key);
      else m.space(op.ns).set(op.key, op.value);
    });
    rb.commitTx();
    m.boundary();
    append(m, r, rb);
  }
  toString() {
    return `${this.label}(${this.ops.map((o) => `${o.ns || '·'}:${o.value === null ? '-' : '+'}${o.key.slice(0, 5)}`).join(' ')})`;
  }
}

/** A transaction whose callback throws: its namespaces exist (created outside it), nothing else is written. */
class TxThrow extends CrashCommand {
  constructor(readonly namespaces: string[]) {
    super();
  }
  act(m: KvModel, r: CrashReal) {
    for (const name of this.namespaces) ensureNamespace(m, r, name);
  }
  toString() {
    return `tx.throw(${this.namespaces.join(', ')})`;
  }
}

class Clear extends CrashCommand {
  constructor(readonly ns: string) {
    super();
  }
  act(m: KvModel, r: CrashReal) {
    const id = ensureNamespace(m, r, this.ns);
    m.space(this.ns).clear();
    m.boundary();
    const rb = new RecordBuffer();
    rb.append(RecordKind.CLEAR, id, null, 0, null, 0);
    append(m, r, rb);
  }
  toString() {
    return `clear(${JSON.stringify(this.ns)})`;
  }
}

class DropNamespace extends CrashCommand {
  constructor(readonly ns: string) {
    super();
  }
  act(m: KvModel, r: CrashReal) {
    const existed = m.dropNamespace(this.ns);
    if (existed) m.boundary();
    if (r.engine.dropNamespace(this.ns) !== existed) throw new CrashViolation(`${this}: engine and model disagree on existence`);
    if (existed) appended(m, r);
  }
  toString() {
    return `dropNamespace(${JSON.stringify(this.ns)})`;
  }
}

/**
 * A batch written with the id of a namespace dropped just before (what a
 * transaction staged into it, or a stale handle, sends): those records must
 * never become data, live or after recovery; the batch's other records apply.
 */
class StaleNamespaceWrite extends CrashCommand {
  constructor(readonly ns: string, readonly keys: string[], readonly other: string) {
    super();
  }
  act(m: KvModel, r: CrashReal) {
    const id = ensureNamespace(m, r, this.ns);
    m.dropNamespace(this.ns);
    m.boundary();
    r.engine.dropNamespace(this.ns);
    appended(m, r);
    const rb = new RecordBuffer();
    rb.beginTx();
    for (const k of this.keys) record(rb, id, k, 'written after the drop');
    record(rb, 0, this.other, 'beside a stale write');
    rb.commitTx();
    m.space(DEFAULT_NS).set(this.other, 'beside a stale write');
    m.boundary();
    append(m, r, rb);
  }
  toString() {
    return `staleWrite(${JSON.stringify(this.ns)}, ${this.keys.length} keys)`;
  }
}

class Flush extends CrashCommand {
  act(m: KvModel, r: CrashReal) {
    const token = ++r.nextToken;
    r.waiting.set(token, m.since[m.since.length - 1]!);
    r.flusher.request(token);
  }
  toString() {
    return 'flush()';
  }
}

class Checkpoint extends CrashCommand {
  constructor(readonly how: 'checkpoint' | 'compact') {
    super();
  }
  act(m: KvModel, r: CrashReal) {
    r.flusher.drain();
    if (this.how === 'checkpoint') r.engine.checkpoint();
    else r.engine.compact();
    m.markDurable();
  }
  toString() {
    return `${this.how}()`;
  }
}

class Reopen extends CrashCommand {
  act(m: KvModel, r: CrashReal) {
    r.flusher.drain();
    r.engine.close();
    m.markDurable();
    startEngine(m, r);
    expectVisible(m, r, `${this}`);
  }
  toString() {
    return 'close()+open()';
  }
}

class Check extends CrashCommand {
  act(m: KvModel, r: CrashReal) {
    expectVisible(m, r, `${this}`);
  }
  toString() {
    return 'check()';
  }
}

/** Power loss between two commands. */
class Crash extends CrashCommand {
  constructor(readonly mode: CrashMode, readonly seed: number) {
    super();
  }
  act(m: KvModel, r: CrashReal) {
    recoverFromCrash(m, r, this.mode, this.seed);
  }
  toString() {
    return `crash(${this.mode}, ${this.seed})`;
  }
}

/** Power loss at the `calls`-th mutating I/O call from here, whichever command makes it. */
class CutLater extends CrashCommand {
  constructor(readonly calls: number, readonly mode: CrashMode, readonly seed: number) {
    super();
  }
  act(_m: KvModel, r: CrashReal) {
    r.io.arm(this.calls, this.mode, this.seed);
  }
  toString() {
    return `cutAfter(${this.calls} calls, ${this.mode}, ${this.seed})`;
  }
}

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
  r.flusher = new GroupFlusher(r.policy, () => r.engine.flush(), (token, error) => {
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
  });
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

const ops = fc.array(fc.record({ key, value: fc.option(value, { nil: null, freq: 3 }) }), { minLength: 1, maxLength: 5 });
const atomicOps = fc.array(fc.record({ ns, key, value: fc.option(value, { nil: null, freq: 4 }) }), { minLength: 1, maxLength: 5 });

export const CRASH_COMMAND_NAMES = ['Put', 'Atomic', 'TxThrow', 'Clear', 'DropNamespace', 'StaleNamespaceWrite', 'Flush', 'Checkpoint', 'Reopen', 'Check', 'Crash', 'CutLater'];

export const crashCommands = [
  fc.tuple(ns, ops).map(([n, o]) => new Put(n, o)),
  fc.tuple(ns, ops).map(([n, o]) => new Put(n, o)),
  fc.tuple(atomicOps, fc.constantFrom('insertMany', 'tx') as fc.Arbitrary<'insertMany' | 'tx'>).map(([o, l]) => new Atomic(l === 'insertMany' ? o.map((x) => ({ ...x, ns: o[0]!.ns, value: x.value ?? '' })) : o, l)),
  fc.array(namedNs, { maxLength: 2 }).map((n) => new TxThrow(n)),
  ns.map((n) => new Clear(n)),
  namedNs.map((n) => new DropNamespace(n)),
  fc.tuple(namedNs, fc.array(key, { minLength: 1, maxLength: 3 }), key).map(([n, k, o]) => new StaleNamespaceWrite(n, k, o)),
  fc.constant(new Flush()),
  fc.constant(new Flush()),
  fc.constantFrom('checkpoint', 'compact').map((h) => new Checkpoint(h as 'checkpoint' | 'compact')),
  fc.constant(new Reopen()),
  fc.constant(new Check()),
  fc.tuple(mode, seed).map(([md, sd]) => new Crash(md, sd)),
  fc.tuple(fc.integer({ min: 1, max: 12 }), mode, seed).map(([c, md, sd]) => new CutLater(c, md, sd)),
];
