/**
 * removeMany's argument checks: an invalid key gets the error code remove()
 * gives it, and nothing of its chunk is sent (earlier chunks are, and the error
 * says how many keys they held in `committed`); a non-iterable source, a single
 * key (a string or a Uint8Array) and a closed database are refused like
 * insertMany refuses them.
 */
import { describe, expect, it } from 'vitest';
import { Emdb, EmdbError } from 'emdb-js';
import { rejectsWithCode } from '../helpers/common.js';

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(
    () => undefined,
    (err: unknown) => (err as { code?: string }).code,
  );
}

describe('removeMany validation', () => {
  it('an invalid key: the same code as remove(), and none of its chunk is removed', async () => {
    const db = await Emdb.openInMemory({ readers: 1 });
    try {
      const bad: unknown[] = ['', new Uint8Array(0), 42, null, undefined, {}, 'x'.repeat(16_385), 'lone \ud800 surrogate'];
      for (const key of bad) {
        await db.insertMany([['a', '1'], ['b', '2']]);
        const want = await codeOf(db.remove(key as string));
        expect(want, `remove(${String(key).slice(0, 10)}) fails`).toMatch(/^ERR_EMDB_/);
        const got = await db.removeMany(['a', key as string, 'b']).then(
          () => undefined,
          (err: unknown) => err,
        );
        expect(got).toBeInstanceOf(EmdbError);
        expect((got as EmdbError).code, `removeMany with ${String(key).slice(0, 10)}`).toBe(want);
        expect((got as EmdbError).committed).toBe(0);
        // 'a' was framed in the same chunk before the bad key: not sent.
        expect(db.getSync('a')?.toString()).toBe('1');
        expect(db.getSync('b')?.toString()).toBe('2');
      }
    } finally {
      await db.close();
    }
  });

  it('an invalid key after a full chunk: the chunks before it are committed, and `committed` counts their keys', async () => {
    const db = await Emdb.openInMemory({ readers: 1 });
    try {
      const long = (i: number) => `key-${i}-`.padEnd(1000, 'x');
      const n = 6_000;
      await db.insertMany(Array.from({ length: n }, (_, i) => [long(i), 'v'] as [string, string]));
      const err = await db.removeMany([...Array.from({ length: n }, (_, i) => long(i)), '']).then(
        () => undefined,
        (e: unknown) => e as EmdbError,
      );
      expect(err?.code).toBe('ERR_EMDB_INVALID_KEY');
      // 6,000 keys of ~1 KiB fill five 1 MiB chunks and part of a sixth: the full chunks went, the last did not.
      expect(err?.committed).toBeGreaterThan(3_000);
      expect(err?.committed).toBeLessThan(n);
      expect(await db.len()).toBe(n - err!.committed!);
      for (let i = 0; i < n; i++) expect(db.getSync(long(i)) === undefined, `key ${i}`).toBe(i < err!.committed!);
    } finally {
      await db.close();
    }
  });

  it('a source that is not an iterable of keys: ERR_EMDB_INVALID_CONFIG, as insertMany', async () => {
    const db = await Emdb.openInMemory({ readers: 1 });
    try {
      await db.insert('a', '1');
      for (const arg of [undefined, null, 42, {}, 'a', Buffer.from('a'), new Uint8Array([97])]) {
        await rejectsWithCode(db.removeMany(arg as Iterable<string>), 'ERR_EMDB_INVALID_CONFIG');
      }
      for (const arg of [undefined, null, 42, {}]) {
        await rejectsWithCode(db.insertMany(arg as Iterable<[string, string]>), 'ERR_EMDB_INVALID_CONFIG');
      }
      // A single key is refused, not taken apart character by character.
      expect(db.getSync('a')?.toString()).toBe('1');
      expect(await db.removeMany([])).toBe(0);
      expect(await db.removeMany(new Set(['a']))).toBe(1);
    } finally {
      await db.close();
    }
  });

  it('a closed database or a dropped namespace: ERR_EMDB_CLOSED, as insertMany', async () => {
    const db = await Emdb.openInMemory({ readers: 1 });
    const ns = await db.namespace('gone');
    await ns.insert('k', 'v');
    await db.dropNamespace('gone');
    await rejectsWithCode(ns.removeMany(['k']), 'ERR_EMDB_CLOSED');
    await rejectsWithCode(ns.insertMany([['k', 'v']]), 'ERR_EMDB_CLOSED');
    await db.close();
    await rejectsWithCode(db.removeMany(['k']), 'ERR_EMDB_CLOSED');
    await rejectsWithCode(db.insertMany([['k', 'v']]), 'ERR_EMDB_CLOSED');
  });
});
