/**
 * emdb-js/level: `batch(ops, { sync: true })` type-checks as the README shows
 * it (put and del took `sync` already; abstract-level's batch typings do not
 * list it), and flushes: the batch is durable when it resolves. The typecheck
 * (`tsc --noEmit`) is the check for the types: this file has no cast.
 */
import path from 'node:path';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { EmdbLevel } from 'emdb-js/level';
import { tempDirs } from '../helpers/common.js';

describe('emdb-js/level: batch with sync', () => {
  const tmp = tempDirs('emdb-level-');

  it('batch(ops, { sync: true }) compiles and flushes; the other batch forms keep their types', async () => {
    const db = new EmdbLevel(path.join(tmp(), 'db'));
    await db.put('a', 'x');
    const before = (await db.engine.stats()).syncs;
    await db.batch([{ type: 'put', key: 'b', value: 'y' }, { type: 'del', key: 'a' }], { sync: true });
    expect((await db.engine.stats()).syncs).toBeGreaterThan(before);
    await db.batch([{ type: 'put', key: 'c', value: 'z' }]);
    await db.batch([{ type: 'put', key: 'd', value: 'w' }], { sync: false, valueEncoding: 'utf8' });
    await db.batch().put('e', 'v').write({ sync: true });
    expectTypeOf(db.batch).toBeCallableWith([{ type: 'del', key: 'x' }], { sync: true });
    // @ts-expect-error: sync is a boolean
    await db.batch([{ type: 'del', key: 'x' }], { sync: 'yes' });
    // @ts-expect-error: values are strings by default
    await db.batch([{ type: 'put', key: 'x', value: 1 }]).catch(() => undefined);
    expect(await db.keys().all()).toEqual(['b', 'c', 'd', 'e', 'x']);
    await db.close();
  });
});
