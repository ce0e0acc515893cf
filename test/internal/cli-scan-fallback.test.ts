/**
 * The CLI's scan without range scans (src/cli/cmd-scan.ts, scanByWalking): for any
 * keys and any prefix/gt/gte/lt/lte/limit/reverse, the entries it yields are
 * exactly the reference model's: filter by bytes, sort (memcmp order), reverse,
 * then take `limit`.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { scanByWalking, type Bounds } from '../../dist/src/cli/cmd-scan.js';

type Entry = [Buffer, Buffer];

function model(entries: Entry[], b: Bounds): string[] {
  const keep = entries.filter(([k]) => {
    if (b.prefix && !k.subarray(0, b.prefix.length).equals(b.prefix)) return false;
    if (b.gt && Buffer.compare(k, b.gt) <= 0) return false;
    if (b.gte && Buffer.compare(k, b.gte) < 0) return false;
    if (b.lt && Buffer.compare(k, b.lt) >= 0) return false;
    if (b.lte && Buffer.compare(k, b.lte) > 0) return false;
    return true;
  });
  keep.sort((x, y) => Buffer.compare(x[0], y[0]));
  if (b.reverse) keep.reverse();
  return (b.limit < 0 ? keep : keep.slice(0, b.limit)).map(([k, v]) => `${k.toString('hex')}=${v.toString('hex')}`);
}

const key = fc.uint8Array({ minLength: 1, maxLength: 4, max: 3 }).map((u) => Buffer.from(u));
const maybeKey = fc.option(fc.uint8Array({ minLength: 0, maxLength: 3, max: 3 }).map((u) => Buffer.from(u)), { nil: undefined });

it('scanByWalking matches the sort-filter-limit model', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uniqueArray(key, { selector: (k) => k.toString('hex'), maxLength: 60 }),
      fc.record({ prefix: maybeKey, gt: maybeKey, gte: maybeKey, lt: maybeKey, lte: maybeKey, reverse: fc.boolean(), limit: fc.integer({ min: -1, max: 8 }) }),
      async (keys, b) => {
        const entries: Entry[] = keys.map((k, i) => [k, Buffer.from([i])]);
        // The walk order of iter() is arbitrary: feed the entries shuffled.
        const shuffled = [...entries].sort(() => Math.random() - 0.5);
        const space = { async *iter() { yield* shuffled; } };
        const bounds = { ...b, prefix: b.prefix?.length ? b.prefix : undefined } as Bounds;
        const got: string[] = [];
        for await (const [k, v] of scanByWalking(space, bounds, { stopped: false })) got.push(`${k.toString('hex')}=${v.toString('hex')}`);
        expect(got).toEqual(model(entries, bounds));
      },
    ),
    { numRuns: 300 },
  );
});
