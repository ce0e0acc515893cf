/**
 * Model test of TTL and nested keys with a controllable clock: random inserts
 * with and without TTL, clock moves, persist, remove, transactions,
 * focus/group operations, compaction and reopen; after every step every read
 * path (get, getSync, getMany, contains, ttl, expiresAt, len, isEmpty, keys,
 * iter, focus and group counts) must agree with the model. Planted mutants
 * (src/mutants.ts) show the model catches an iterator that does not filter
 * expired records and a persist that revives them.
 *
 * Time: every TTL is k·10 s + 5 s and the clock moves by multiples of 10 s, so
 * real time elapsing during a run (well under 5 s) never flips a verdict.
 */
import fc from 'fast-check';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, Ttl } from '../../dist/src/index.js';
import { setTestClockOffset, testClockNow } from '../../dist/src/testing.js';
import { tempDirs } from '../helpers/common.js';

type Space = 'db' | 's';
type TtlChoice = { kind: 'none' } | { kind: 'never' } | { kind: 'ms'; ms: number };
type Op =
  | { op: 'put'; space: Space; key: string; value: string; ttl: TtlChoice }
  | { op: 'advance'; steps: number }
  | { op: 'persist'; space: Space; key: string }
  | { op: 'remove'; space: Space; key: string }
  | { op: 'tx'; writes: { key: string; value: string | null; ttl: TtlChoice }[] }
  | { op: 'groupRemove'; space: Space }
  | { op: 'compact' }
  | { op: 'reopen' }
  | { op: 'sweep' };

const NS_DEFAULT_TTL = 25_000;
const KEYS = ['a', 'b', 'c', 'g.x', 'g.y', 'g.z', 'gx'];

const ttlArb: fc.Arbitrary<TtlChoice> = fc.oneof(
  fc.constant<TtlChoice>({ kind: 'none' }),
  fc.constant<TtlChoice>({ kind: 'never' }),
  fc.integer({ min: 0, max: 5 }).map<TtlChoice>((k) => ({ kind: 'ms', ms: k * 10_000 + 5_000 })),
);
const spaceArb = fc.constantFrom<Space>('db', 's');
const keyArb = fc.constantFrom(...KEYS);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('put' as const), space: spaceArb, key: keyArb, value: fc.string({ maxLength: 4 }), ttl: ttlArb }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('advance' as const), steps: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('persist' as const), space: spaceArb, key: keyArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('remove' as const), space: spaceArb, key: keyArb }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('tx' as const),
      writes: fc.array(fc.record({ key: keyArb, value: fc.option(fc.string({ maxLength: 3 }), { nil: null }), ttl: ttlArb }), { minLength: 1, maxLength: 3 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('groupRemove' as const), space: spaceArb }) },
  { weight: 1, arbitrary: fc.constant<Op>({ op: 'compact' }) },
  { weight: 1, arbitrary: fc.constant<Op>({ op: 'reopen' }) },
  { weight: 1, arbitrary: fc.constant<Op>({ op: 'sweep' }) },
);

/** A narrower mix for the mutant search: few keys, TTL writes, clock moves, persists and reads. */
const mutantOpArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('put' as const), space: spaceArb, key: fc.constantFrom('a', 'g.x'), value: fc.string({ maxLength: 2 }), ttl: ttlArb }),
  fc.record({ op: fc.constant('advance' as const), steps: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ op: fc.constant('persist' as const), space: spaceArb, key: fc.constantFrom('a', 'g.x') }),
);

interface Entry {
  value: string;
  deadline: number;
}

class Model {
  readonly spaces = { db: new Map<string, Entry>(), s: new Map<string, Entry>() };
  live(space: Space, key: string, now: number): Entry | undefined {
    const e = this.spaces[space].get(key);
    return e && (e.deadline === 0 || e.deadline > now) ? e : undefined;
  }
  deadline(space: Space, ttl: TtlChoice, now: number): number {
    if (ttl.kind === 'never') return 0;
    if (ttl.kind === 'ms') return now + ttl.ms;
    return space === 's' ? now + NS_DEFAULT_TTL : 0;
  }
}

async function runOps(dir: string, ops: Op[]): Promise<void> {
  const file = path.join(dir, `m-${Math.random().toString(36).slice(2)}.emdb`);
  const model = new Model();
  let offset = 0;
  let db = await Emdb.open<string>(file, { readers: 1, valueEncoding: 'utf8' });
  let ns = await db.namespace<string>('s', { defaultTtl: NS_DEFAULT_TTL });
  const space = (s: Space) => (s === 'db' ? db : ns);
  const ttlArg = (t: TtlChoice) => (t.kind === 'never' ? Ttl.Never : t.kind === 'ms' ? t.ms : Ttl.Default);
  try {
    for (const op of ops) {
      const now = testClockNow(db);
      switch (op.op) {
        case 'put':
          if (op.ttl.kind === 'none') await space(op.space).insert(op.key, op.value);
          else await space(op.space).insertWithTtl(op.key, op.value, ttlArg(op.ttl));
          model.spaces[op.space].set(op.key, { value: op.value, deadline: model.deadline(op.space, op.ttl, now) });
          break;
        case 'advance':
          offset += op.steps * 10_000;
          // No sweep poke: expired records stay in the log, so the lazy read paths are what is checked.
          await setOffsetQuietly(db, offset);
          break;
        case 'persist': {
          const e = model.live(op.space, op.key, now);
          const expected = e !== undefined && e.deadline !== 0;
          expect(await space(op.space).persist(op.key), `persist ${op.space}/${op.key}`).toBe(expected);
          if (expected) e.deadline = 0;
          break;
        }
        case 'remove': {
          const expected = model.live(op.space, op.key, now) !== undefined;
          expect(await space(op.space).remove(op.key), `remove ${op.space}/${op.key}`).toBe(expected);
          model.spaces[op.space].delete(op.key);
          break;
        }
        case 'tx':
          await db.transaction(async (tx) => {
            for (const w of op.writes) {
              if (w.value === null) await tx.remove(w.key);
              else if (w.ttl.kind === 'none') tx.insert(w.key, w.value);
              else tx.insertWithTtl(w.key, w.value, ttlArg(w.ttl));
            }
          });
          for (const w of op.writes) {
            if (w.value === null) model.spaces.db.delete(w.key);
            else model.spaces.db.set(w.key, { value: w.value, deadline: model.deadline('db', w.ttl, now) });
          }
          break;
        case 'groupRemove':
          await (await space(op.space).group('g')).remove();
          for (const k of [...model.spaces[op.space].keys()]) if (k.startsWith('g.')) model.spaces[op.space].delete(k);
          break;
        case 'compact':
          await db.compact();
          // Compaction drops expired records for good (a clock moved back later would not revive them).
          for (const s of ['db', 's'] as const) for (const k of [...model.spaces[s].keys()]) if (!model.live(s, k, now)) model.spaces[s].delete(k);
          break;
        case 'reopen':
          await db.close();
          db = await Emdb.open<string>(file, { readers: 1, valueEncoding: 'utf8' });
          await setOffsetQuietly(db, offset);
          ns = await db.namespace<string>('s', { defaultTtl: NS_DEFAULT_TTL });
          break;
        case 'sweep':
          await setTestClockOffset(db, offset);
          for (let i = 0; i < 200 && (await db.stats()).ttl.expiredPending > 0; i++) await new Promise((r) => setTimeout(r, 5));
          expect((await db.stats()).ttl.expiredPending).toBe(0);
          break;
      }
      await check(db, ns, model, testClockNow(db));
    }
  } finally {
    await db.close();
  }
}

/** Moves the clock without waking the writer's sweep (a timer armed on real time will not fire during the run). */
function setOffsetQuietly(db: Emdb<string>, offset: number): Promise<void> {
  return setTestClockOffset(db as Emdb<unknown>, offset, { wakeSweep: false });
}

async function check(db: Emdb<string>, ns: Awaited<ReturnType<Emdb<string>['namespace']>>, model: Model, now: number): Promise<void> {
  for (const s of ['db', 's'] as const) {
    const ks = s === 'db' ? db : (ns as unknown as Emdb<string>);
    const live = KEYS.filter((k) => model.live(s, k, now));
    for (const k of KEYS) {
      const e = model.live(s, k, now);
      expect(await ks.get(k), `get ${s}/${k}`).toBe(e?.value);
      expect(ks.getSync(k), `getSync ${s}/${k}`).toBe(e?.value);
      expect(await ks.contains(k), `contains ${s}/${k}`).toBe(e !== undefined);
      const exp = await ks.expiresAt(k);
      if (e === undefined || e.deadline === 0) expect(exp, `expiresAt ${s}/${k}`).toBeUndefined();
      else expect(Math.abs(exp! - e.deadline), `expiresAt ${s}/${k}`).toBeLessThan(1000);
      // The clock runs on while the checks await (over a second on a loaded CI machine): bound ttl() by the
      // clock read just before and just after it, with the same 1 s slack for the model's deadline as above.
      const before = testClockNow(db);
      const ttl = await ks.ttl(k);
      const after = testClockNow(db);
      if (e === undefined || e.deadline === 0) expect(ttl, `ttl ${s}/${k}`).toBeUndefined();
      else {
        expect(ttl!, `ttl ${s}/${k}`).toBeGreaterThan(e.deadline - after - 1000);
        expect(ttl!, `ttl ${s}/${k}`).toBeLessThan(e.deadline - before + 1000);
      }
    }
    expect(await ks.getMany(KEYS), `getMany ${s}`).toEqual(KEYS.map((k) => model.live(s, k, now)?.value));
    expect(await ks.len(), `len ${s}`).toBe(live.length);
    expect(await ks.isEmpty(), `isEmpty ${s}`).toBe(live.length === 0);
    const keys: string[] = [];
    for await (const k of ks.keys()) keys.push(k.toString());
    expect(keys.sort(), `keys ${s}`).toEqual([...live].sort());
    const entries: [string, string][] = [];
    for await (const [k, v] of ks.iter()) entries.push([k.toString(), v]);
    expect(entries.sort(), `iter ${s}`).toEqual(live.map((k) => [k, model.live(s, k, now)!.value] as [string, string]).sort());
    const group = live.filter((k) => k.startsWith('g.'));
    expect(await (await ks.group('g')).count(), `group count ${s}`).toBe(group.length);
    const rel: string[] = [];
    for await (const k of ks.focus('g').keys()) rel.push(k.toString());
    expect(rel.sort(), `focus keys ${s}`).toEqual(group.map((k) => k.slice(2)).sort());
  }
}

describe('TTL and nested keys against a model', () => {
  const dirs = tempDirs('emdb-ttl-model-');

  it('every read path agrees with the model', async () => {
    const dir = dirs();
    await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 20 }), (ops) => runOps(dir, ops)), { numRuns: 30 });
  }, 240_000);

  for (const [mutant, ops] of [
    [
      'iter-expired',
      [
        { op: 'put', space: 'db', key: 'a', value: 'v', ttl: { kind: 'ms', ms: 5_000 } },
        { op: 'advance', steps: 1 },
      ],
    ],
    [
      'persist-revives',
      [
        { op: 'put', space: 'db', key: 'a', value: 'v', ttl: { kind: 'ms', ms: 5_000 } },
        { op: 'advance', steps: 1 },
        { op: 'persist', space: 'db', key: 'a' },
      ],
    ],
  ] as [string, Op[]][]) {
    it(`catches the planted mutant ${mutant}`, async () => {
      const dir = dirs();
      process.env.EMDB_TEST_MUTANT = mutant;
      try {
        // The shortest failing case first (it must fail), then the random search must find one too.
        await expect(runOps(dir, ops)).rejects.toThrow();
        // A fixed seed keeps the search reproducible; the budget is generous because
        // persist-revives needs put-with-TTL, enough clock and persist on one key in
        // one space (measured over 25 seeds: found after 2–90 runs, mean 35, so 100
        // random-seed runs missed it about one CI run in twenty).
        const found = await fc.check(fc.asyncProperty(fc.array(mutantOpArb, { minLength: 1, maxLength: 10 }), (o) => runOps(dir, o)), {
          numRuns: 400,
          endOnFailure: true,
          seed: 20261202,
        });
        expect(found.failed).toBe(true);
      } finally {
        delete process.env.EMDB_TEST_MUTANT;
      }
    }, 240_000);
  }
});
