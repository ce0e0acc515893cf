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
import { RecordBuffer } from '../../../dist/src/core/record-buffer.js';
import { RecordKind } from '../../../dist/src/format/constants.js';
import { CRASH_MODES, type CrashMode } from '../sim/crash-image.js';
import { CrashViolation, expectVisible, recoverFromCrash, startEngine, type CrashReal } from './crash-system.js';
import { DEFAULT_NS, KvModel } from './kv-model.js';

export { expectVisible, newFigures, startEngine, type CrashFigures, type CrashReal } from './crash-system.js';

type Cmd = fc.Command<KvModel, CrashReal>;

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
    r.flusher.request((error) => r.flushDone(token, error));
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
