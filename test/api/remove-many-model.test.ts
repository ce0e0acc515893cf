/**
 * removeMany against a Map model (fast-check): random sequences of inserts,
 * insertMany, single removes and removeMany calls (sync arrays, generators and
 * async generators, with repeated and missing keys) over a small key set, in the
 * default namespace and in a named one. After every step every key is compared
 * (getSync) and every removeMany's count must equal the keys the model had; at
 * the end the database is closed and reopened, and must hold the model's state.
 */
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Emdb } from 'emdb-js';
import { scaled, tempDirs } from '../helpers/common.js';

const KEYS = Array.from({ length: 24 }, (_, i) => (i % 7 === 0 ? `key-${i}-${'l'.repeat(i * 11)}` : `k${i}`));
type Source = 'array' | 'generator' | 'async';
type Step =
  | { t: 'insert'; ns: 0 | 1; key: number; value: string }
  | { t: 'insertMany'; ns: 0 | 1; entries: [number, string][] }
  | { t: 'remove'; ns: 0 | 1; key: number }
  | { t: 'removeMany'; ns: 0 | 1; keys: number[]; source: Source };

const keyIx = fc.nat({ max: KEYS.length - 1 });
const nsArb = fc.constantFrom<0 | 1>(0, 1);
const step: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: fc.record({ t: fc.constant('insert' as const), ns: nsArb, key: keyIx, value: fc.string({ maxLength: 20 }) }), weight: 3 },
  { arbitrary: fc.record({ t: fc.constant('insertMany' as const), ns: nsArb, entries: fc.array(fc.tuple(keyIx, fc.string({ maxLength: 20 })), { maxLength: 12 }) }), weight: 2 },
  { arbitrary: fc.record({ t: fc.constant('remove' as const), ns: nsArb, key: keyIx }), weight: 1 },
  {
    arbitrary: fc.record({ t: fc.constant('removeMany' as const), ns: nsArb, keys: fc.array(keyIx, { maxLength: 16 }), source: fc.constantFrom<Source>('array', 'generator', 'async') }),
    weight: 4,
  },
);

function source(keys: string[], how: Source): Iterable<string> | AsyncIterable<string> {
  if (how === 'array') return keys;
  if (how === 'generator') return (function* () { yield* keys; })();
  return (async function* () {
    for (const k of keys) {
      await Promise.resolve();
      yield k;
    }
  })();
}

describe('removeMany against a Map model', () => {
  const newDir = tempDirs('emdb-remove-many-model-');

  it('every key and every returned count match the model, also after close + reopen', async () => {
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 30 }), fc.boolean(), async (steps, rangeScans) => {
        const file = path.join(newDir(), 'm.emdb');
        const models = [new Map<string, string>(), new Map<string, string>()];
        let db = await Emdb.open(file, { readers: 1, rangeScans });
        try {
          let spaces = [db, await db.namespace('other')];
          const check = (label: string): void => {
            for (const ns of [0, 1])
              for (const k of KEYS) expect(spaces[ns]!.getSync(k)?.toString(), `${label}: ns ${ns} key ${k.slice(0, 10)}`).toBe(models[ns]!.get(k));
          };
          for (const [i, s] of steps.entries()) {
            const space = spaces[s.ns]!;
            const model = models[s.ns]!;
            if (s.t === 'insert') {
              await space.insert(KEYS[s.key]!, s.value);
              model.set(KEYS[s.key]!, s.value);
            } else if (s.t === 'insertMany') {
              await space.insertMany(s.entries.map(([k, v]) => [KEYS[k]!, v] as [string, string]));
              for (const [k, v] of s.entries) model.set(KEYS[k]!, v);
            } else if (s.t === 'remove') {
              expect(await space.remove(KEYS[s.key]!)).toBe(model.delete(KEYS[s.key]!));
            } else {
              const keys = s.keys.map((k) => KEYS[k]!);
              let want = 0;
              for (const k of keys) if (model.delete(k)) want++;
              expect(await space.removeMany(source(keys, s.source)), `step ${i}: removeMany(${s.keys.join(',')})`).toBe(want);
            }
            check(`step ${i} (${s.t})`);
          }
          for (const ns of [0, 1]) expect(await spaces[ns]!.len()).toBe(models[ns]!.size);
          await db.close();
          db = await Emdb.open(file, { readers: 1, rangeScans });
          spaces = [db, await db.namespace('other')];
          check('after reopen');
          if (rangeScans) {
            for (const ns of [0, 1]) {
              const got = (await spaces[ns]!.range(null, null)).map(([k]) => k.toString());
              expect(got).toEqual([...models[ns]!.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
            }
          }
          runs++;
        } finally {
          await db.close();
          fs.rmSync(path.dirname(file), { recursive: true, force: true });
        }
      }),
      { numRuns: scaled(12), seed: 20261202 },
    );
    expect(runs).toBe(scaled(12));
  });
});
