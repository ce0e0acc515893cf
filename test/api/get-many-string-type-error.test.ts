/**
 * `db.getMany('ab')` and `db.removeMany('ab')` compiled (a string is an
 * iterable of strings) and then rejected with ERR_EMDB_INVALID_CONFIG at run
 * time; `insertMany('ab')` was already a compile error. A single string given
 * where a list of keys belongs must not type-check, on the database, a
 * namespace and a focus (an attached database is the same class). Checked
 * twice: `tsc --noEmit` over this file (npm run typecheck: a `@ts-expect-error`
 * line that compiles fails it), and, inside the test run, tsc over a small
 * module compiled as a user would, against the built package.
 */
import { describe, expect, it } from 'vitest';
import { Emdb, tempDirs } from '../helpers/common.js';
import { typecheckAsUser } from '../helpers/user-tsc.js';


/** What a user writes: lists of keys compile, one string does not. */
const USER_MODULE = `import { Emdb } from 'emdb-js';
declare const db: Emdb<string>;
const ns = await db.namespace('n');
const focus = db.focus('f');
function* gen() { yield 'a'; yield new Uint8Array([1]); }
await db.getMany(['a', 'b']);
await db.getMany(new Set(['a']));
await db.getMany(gen());
await db.removeMany(['a']);
await db.removeMany((async function* () { yield 'a'; })());
await ns.getMany(['a']);
await focus.getMany(['a']);
// @ts-expect-error: one string is one key, not a list of keys
await db.getMany('ab');
// @ts-expect-error: same for removeMany
await db.removeMany('ab');
// @ts-expect-error: and on a namespace
await ns.getMany('ab');
// @ts-expect-error: and on a namespace's removeMany
await ns.removeMany('ab');
// @ts-expect-error: and on a focus
await focus.getMany('ab');
export {};
`;

describe('getMany / removeMany with a single string', () => {
  const tmp = tempDirs('emdb-keys-type-');

  it('is a compile error for a user of the package (tsc over a module, against the built types)', { timeout: 120_000 }, () => {
    const run = typecheckAsUser(tmp(), { 'use.mts': USER_MODULE });
    // An "Unused '@ts-expect-error' directive" here means the string type-checked.
    expect(run.output).toBe('');
    expect(run.status).toBe(0);
  });

  it('and is still refused at run time for untyped callers (ERR_EMDB_INVALID_CONFIG)', async () => {
    const db = await Emdb.openInMemory({ readers: 1, valueEncoding: 'utf8' });
    try {
      await db.insert('ab', 'x');
      const ns = await db.namespace('n');
      // @ts-expect-error: a string is not a list of keys
      await expect(db.getMany('ab')).rejects.toMatchObject({ code: 'ERR_EMDB_INVALID_CONFIG' });
      // @ts-expect-error: nor for removeMany
      await expect(db.removeMany('ab')).rejects.toMatchObject({ code: 'ERR_EMDB_INVALID_CONFIG' });
      // @ts-expect-error: nor on a namespace
      await expect(ns.getMany('ab')).rejects.toMatchObject({ code: 'ERR_EMDB_INVALID_CONFIG' });
      // @ts-expect-error: nor on a focus
      await expect(db.focus('f').getMany('ab')).rejects.toMatchObject({ code: 'ERR_EMDB_INVALID_CONFIG' });
      expect(await db.getMany(['ab'])).toEqual(['x']);
      expect(db.getSync('ab'), 'nothing was removed').toBe('x');
    } finally {
      await db.close();
    }
  });
});
