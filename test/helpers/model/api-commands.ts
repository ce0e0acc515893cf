/**
 * fast-check commands that drive the public API (Emdb on a temp file) and the
 * reference model side by side. Each command does one thing through the API,
 * applies the same thing to the model, and checks what the API answered against
 * what the model says it must answer.
 */
import fs from 'node:fs';
import fc from 'fast-check';
import { expect } from 'vitest';
import { diffDbStates, readEngineState, type DbState } from '../../../dist/test/helpers/engine-state.js';
import { Emdb, ErrorCode, rejectsWithCode } from '../common.js';
import { withInProcessEngine } from '../log-image.js';
import { ApiCommand, entries, key, namedNs, ns, OPEN_OPTIONS, space, text, txOps, value, type ApiReal, type Db, type Space } from './api-base.js';
import { TxCommit, TxDropsNamespace, TxThrow } from './api-tx-commands.js';
import { DEFAULT_NS, KvModel, toBin } from './kv-model.js';

export { OPEN_OPTIONS, type ApiReal };

class Insert extends ApiCommand {
  constructor(readonly ns: string, readonly key: string, readonly value: string) {
    super();
  }
  async act(m: KvModel, r: ApiReal) {
    await (await space(m, r, this.ns)).insert(this.key, this.value);
    m.space(this.ns).set(this.key, this.value);
    m.boundary();
  }
  toString() {
    return `insert(${JSON.stringify(this.ns)}, ${JSON.stringify(this.key.slice(0, 12))}, ${this.value.length} chars)`;
  }
}

class Remove extends ApiCommand {
  constructor(readonly ns: string, readonly key: string) {
    super();
  }
  async act(m: KvModel, r: ApiReal) {
    const existed = await (await space(m, r, this.ns)).remove(this.key);
    expect(existed, `${this}`).toBe(m.space(this.ns).delete(this.key));
    m.boundary();
  }
  toString() {
    return `remove(${JSON.stringify(this.ns)}, ${JSON.stringify(this.key.slice(0, 12))})`;
  }
}

class Read extends ApiCommand {
  constructor(readonly ns: string, readonly keys: string[], readonly how: 'get' | 'getSync' | 'getMany' | 'contains') {
    super();
  }
  async act(m: KvModel, r: ApiReal) {
    const s = await space(m, r, this.ns);
    const want = this.keys.map((k) => m.get(this.ns, k));
    let got: unknown[];
    if (this.how === 'get') got = await Promise.all(this.keys.map(async (k) => text(await s.get(k))));
    else if (this.how === 'getSync') got = this.keys.map((k) => text(s.getSync(k)));
    else if (this.how === 'getMany') got = (await s.getMany(this.keys)).map(text);
    else got = await Promise.all(this.keys.map((k) => s.contains(k)));
    expect(got, `${this}`).toEqual(this.how === 'contains' ? want.map((v) => v !== undefined) : want);
  }
  toString() {
    return `${this.how}(${JSON.stringify(this.ns)}, [${this.keys.map((k) => JSON.stringify(k.slice(0, 8))).join(', ')}])`;
  }
}

class Len extends ApiCommand {
  constructor(readonly ns: string) {
    super();
  }
  async act(m: KvModel, r: ApiReal) {
    const s = await space(m, r, this.ns);
    expect(await s.len(), `${this}`).toBe(m.space(this.ns).size);
  }
  toString() {
    return `len(${JSON.stringify(this.ns)})`;
  }
}

class Clear extends ApiCommand {
  constructor(readonly ns: string) {
    super();
  }
  async act(m: KvModel, r: ApiReal) {
    await (await space(m, r, this.ns)).clear();
    m.space(this.ns).clear();
    m.boundary();
  }
  toString() {
    return `clear(${JSON.stringify(this.ns)})`;
  }
}

class InsertMany extends ApiCommand {
  constructor(readonly ns: string, readonly entries: [string, string][]) {
    super();
  }
  async act(m: KvModel, r: ApiReal) {
    const sent = r.mutant === 'insertManyLosesLast' ? this.entries.slice(0, -1) : this.entries;
    expect(await (await space(m, r, this.ns)).insertMany(sent)).toBe(sent.length);
    for (const [k, v] of this.entries) m.space(this.ns).set(k, v);
    m.boundary();
  }
  toString() {
    return `insertMany(${JSON.stringify(this.ns)}, ${this.entries.length} entries)`;
  }
}

/** Several writes issued in one tick without awaiting: coalesced into batches, answered in call order. */
class Burst extends ApiCommand {
  constructor(readonly ns: string, readonly ops: { key: string; value: string | null }[]) {
    super();
  }
  async act(m: KvModel, r: ApiReal) {
    const s = await space(m, r, this.ns);
    const results = await Promise.all(this.ops.map((op) => (op.value === null ? s.remove(op.key) : s.insert(op.key, op.value))));
    const entries = m.space(this.ns);
    this.ops.forEach((op, i) => {
      if (op.value === null) expect(results[i], `${this} #${i}`).toBe(entries.delete(op.key));
      else entries.set(op.key, op.value);
      m.boundary();
    });
    for (const op of this.ops) expect(text(s.getSync(op.key)), `${this} then getSync`).toBe(entries.get(op.key));
  }
  toString() {
    return `burst(${JSON.stringify(this.ns)}, ${this.ops.map((o) => (o.value === null ? `-${o.key.slice(0, 6)}` : `+${o.key.slice(0, 6)}`)).join(' ')})`;
  }
}

class CreateNamespace extends ApiCommand {
  constructor(readonly ns: string) {
    super();
  }
  async act(m: KvModel, r: ApiReal) {
    await space(m, r, this.ns);
    expect(await r.db.namespaces()).toEqual(m.namespaces());
  }
  toString() {
    return `namespace(${JSON.stringify(this.ns)})`;
  }
}

class DropNamespace extends ApiCommand {
  constructor(readonly ns: string) {
    super();
  }
  async act(m: KvModel, r: ApiReal) {
    const handle = m.visible.has(this.ns) ? await r.db.namespace(this.ns) : undefined;
    expect(await r.db.dropNamespace(this.ns), `${this}`).toBe(m.dropNamespace(this.ns));
    if (handle) {
      m.boundary();
      await rejectsWithCode(handle.get('a'), ErrorCode.CLOSED);
    }
    expect(await r.db.namespaces()).toEqual(m.namespaces());
  }
  toString() {
    return `dropNamespace(${JSON.stringify(this.ns)})`;
  }
}

class Iterate extends ApiCommand {
  constructor(readonly ns: string, readonly keysOnly: boolean) {
    super();
  }
  async act(m: KvModel, r: ApiReal) {
    const s = await space(m, r, this.ns);
    const want = m.space(this.ns);
    if (this.keysOnly) {
      const got: string[] = [];
      for await (const k of s.keys()) got.push(k.toString('utf8'));
      expect(got.sort(), `${this}`).toEqual([...want.keys()].sort());
    } else {
      const got = new Map<string, string>();
      for await (const [k, v] of s.iter()) {
        expect(got.has(k.toString('utf8')), `${this}: key yielded twice`).toBe(false);
        got.set(k.toString('utf8'), v.toString('utf8'));
      }
      expect(got, `${this}`).toEqual(want);
    }
  }
  toString() {
    return `${this.keysOnly ? 'keys' : 'iter'}(${JSON.stringify(this.ns)})`;
  }
}

class Durability extends ApiCommand {
  constructor(readonly how: 'flush' | 'checkpoint' | 'compact') {
    super();
  }
  async act(m: KvModel, r: ApiReal) {
    if (this.how === 'compact') {
      const report = await r.db.compact();
      expect(report.keysKept, 'compact keeps every live key').toBe([...m.visible.values()].reduce((n, e) => n + e.size, 0));
    } else {
      await r.db[this.how]();
    }
    m.markDurable();
  }
  toString() {
    return `${this.how}()`;
  }
}

/**
 * The file as it is on disk right now, while the database is open, recovered by
 * a fresh engine: it must hold one of the batch-boundary states between the
 * durable and the visible model (the page cache keeps every write; the check is
 * that the log itself, not only the live index, carries them, whole batches only).
 */
class DiskImage extends ApiCommand {
  async act(m: KvModel, r: ApiReal) {
    const copy = `${r.file}.image`;
    fs.copyFileSync(r.file, copy);
    try {
      const { state, problems } = withInProcessEngine(copy, (engine) => {
        const read = readEngineState(engine);
        engine.close();
        return read;
      });
      expect(problems).toEqual([]);
      expect(matchesOneOf(state, m.since), 'the on-disk image recovers a batch-boundary state at or after the durable one').toBe(true);
    } finally {
      fs.rmSync(copy, { force: true });
    }
  }
  toString() {
    return 'diskImage()';
  }
}

/** close() then Emdb.open() again: everything visible comes back, names and values. */
class Reopen extends ApiCommand {
  async act(m: KvModel, r: ApiReal) {
    await r.db.close();
    await rejectsWithCode(r.db.get('a'), ErrorCode.CLOSED);
    r.db = await Emdb.open(r.file, OPEN_OPTIONS);
    m.markDurable();
    await expectState(r.db, m.visible);
  }
  toString() {
    return 'close()+open()';
  }
}

function matchesOneOf(state: DbState, candidates: DbState[]): boolean {
  return candidates.some((c) => diffDbStates(state, toBin(c)) === undefined);
}

/** Reads every namespace through the public API and compares it with `want`. */
export async function expectState(db: Db, want: DbState): Promise<void> {
  expect(await db.namespaces()).toEqual([...want.keys()].filter((n) => n !== DEFAULT_NS).sort());
  for (const [name, entries] of want) {
    const s: Space = name === DEFAULT_NS ? db : await db.namespace(name);
    const got = new Map<string, string>();
    for await (const [k, v] of s.iter()) got.set(k.toString('utf8'), v.toString('utf8'));
    expect(got, `namespace ${JSON.stringify(name)}`).toEqual(entries);
    expect(await s.len()).toBe(entries.size);
  }
}

export const API_COMMAND_NAMES = ['Insert', 'Remove', 'Read', 'Len', 'Clear', 'InsertMany', 'Burst', 'TxCommit', 'TxThrow', 'TxDropsNamespace', 'CreateNamespace', 'DropNamespace', 'Iterate', 'Durability', 'DiskImage', 'Reopen'];

const insert = fc.tuple(ns, key, value).map(([n, k, v]) => new Insert(n, k, v));
const remove = fc.tuple(ns, key).map(([n, k]) => new Remove(n, k));
const read = fc
  .tuple(ns, fc.array(key, { minLength: 1, maxLength: 4 }), fc.constantFrom('get', 'getSync', 'getMany', 'contains') as fc.Arbitrary<'get' | 'getSync' | 'getMany' | 'contains'>)
  .map(([n, k, h]) => new Read(n, k, h));

/** Cheap commands appear several times: a close + reopen costs two worker start-ups, a read microseconds. */
export const apiCommands = [
  insert,
  insert,
  insert,
  remove,
  remove,
  read,
  read,
  read,
  ns.map((n) => new Len(n)),
  ns.map((n) => new Clear(n)),
  fc.tuple(ns, entries).map(([n, e]) => new InsertMany(n, e)),
  fc.tuple(ns, fc.array(fc.record({ key, value: fc.option(value, { nil: null, freq: 3 }) }), { minLength: 2, maxLength: 8 })).map(([n, o]) => new Burst(n, o)),
  txOps.map((o) => new TxCommit(o)),
  txOps.map((o) => new TxCommit(o)),
  fc.tuple(txOps, fc.constantFrom('throw', 'abort') as fc.Arbitrary<'throw' | 'abort'>).map(([o, h]) => new TxThrow(o, h)),
  fc.tuple(namedNs, fc.array(key, { minLength: 1, maxLength: 3 }), fc.tuple(key, value)).map(([n, k, o]) => new TxDropsNamespace(n, k, o)),
  namedNs.map((n) => new CreateNamespace(n)),
  namedNs.map((n) => new DropNamespace(n)),
  fc.tuple(ns, fc.boolean()).map(([n, k]) => new Iterate(n, k)),
  fc.constantFrom('flush', 'checkpoint', 'compact').map((h) => new Durability(h as 'flush' | 'checkpoint' | 'compact')),
  fc.constant(new DiskImage()),
  fc.constant(new Reopen()),
];
