import { expect } from 'vitest';
import { collect, type Emdb } from './common.js';

/**
 * Every key of `model` read back exactly through getSync, get (the reader
 * pool), getMany and a full iter(), which holds nothing else. Each read path
 * names itself in the failure, with the keys it got wrong.
 */
export async function expectEveryValue(db: Emdb<Buffer>, model: ReadonlyMap<string, Buffer>): Promise<void> {
  const keys = [...model.keys()];
  const differ = (got: (Buffer | undefined)[]): string[] => keys.filter((k, i) => !got[i]?.equals(model.get(k)!));
  expect(differ(keys.map((k) => db.getSync(k))), 'getSync').toEqual([]);
  expect(differ(await Promise.all(keys.map((k) => db.get(k)))), 'get').toEqual([]);
  expect(differ(await db.getMany(keys)), 'getMany').toEqual([]);
  const all = await collect(db.iter());
  expect(all.filter(([k, v]) => !model.get(k.toString())?.equals(v)).map(([k]) => k.toString()), 'iter').toEqual([]);
  expect(all.length).toBe(model.size);
}
