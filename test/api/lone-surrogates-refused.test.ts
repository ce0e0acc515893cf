import { describe, expect, it } from 'vitest';
import { Emdb, rejectsWithCode } from '../helpers/common.js';

// Lone surrogates have no UTF-8 form: stored, they all became U+FFFD, so these were one key.
const LONE = ['\ud800', '\udfff', 'a\udc00b', '\ud83d'];

describe('strings that are not well-formed UTF-16 are refused instead of collapsing', () => {
  it('keys with a lone surrogate are refused (ERR_EMDB_INVALID_KEY) on every key path, and U+FFFD stays its own key', async () => {
    const db = await Emdb.openInMemory({ readers: 1 });
    for (const key of LONE) {
      await rejectsWithCode(db.insert(key, 'v'), 'ERR_EMDB_INVALID_KEY');
      await rejectsWithCode(db.get(key), 'ERR_EMDB_INVALID_KEY');
      await rejectsWithCode(db.remove(key), 'ERR_EMDB_INVALID_KEY');
      await rejectsWithCode(db.insertMany([[key, 'v']]), 'ERR_EMDB_INVALID_KEY');
      expect(() => db.getSync(key)).toThrowError(expect.objectContaining({ code: 'ERR_EMDB_INVALID_KEY' }));
      await rejectsWithCode(
        db.transaction((tx) => tx.insert(key, 'v')),
        'ERR_EMDB_INVALID_KEY',
      );
    }
    // A long key takes the non-ASCII path too.
    await rejectsWithCode(db.insert('x'.repeat(300) + '\ud800', 'v'), 'ERR_EMDB_INVALID_KEY');
    await db.insert('\ufffd', 'replacement');
    await db.insert('😀', 'pair');
    expect(await db.len()).toBe(2);
    expect(db.getSync('\ufffd')?.toString()).toBe('replacement');
    await db.close();
  });

  it('namespace names with a lone surrogate are refused (ERR_EMDB_INVALID_KEY)', async () => {
    const db = await Emdb.openInMemory({ readers: 1 });
    await rejectsWithCode(db.namespace('\ud800'), 'ERR_EMDB_INVALID_KEY');
    await rejectsWithCode(db.dropNamespace('\udfff'), 'ERR_EMDB_INVALID_KEY');
    await db.namespace('\ufffd');
    expect(await db.namespaces()).toEqual(['\ufffd']);
    await db.close();
  });

  it.each(['binary', 'utf8'] as const)('%s string values with a lone surrogate are refused (ERR_EMDB_INVALID_VALUE)', async (valueEncoding) => {
    const db = await Emdb.openInMemory({ readers: 1, valueEncoding });
    for (const value of LONE) {
      await rejectsWithCode(db.insert('k', value), 'ERR_EMDB_INVALID_VALUE');
      await rejectsWithCode(db.insertMany([['k', value]]), 'ERR_EMDB_INVALID_VALUE');
    }
    await db.insert('k', 'ok 😀');
    expect(String(await db.get('k'))).toBe('ok 😀');
    expect(await db.len()).toBe(1);
    await db.close();
  });

  it.each(['json', 'msgpack'] as const)('%s values with a lone surrogate in any nested string or object key are refused', async (valueEncoding) => {
    const db = await Emdb.openInMemory<unknown>({ readers: 1, valueEncoding });
    const bad: unknown[] = ['\ud800', { a: ['x', { b: 'y\udc00' }] }, { ['k\ud800']: 1 }, [[['\udfff']]]];
    if (valueEncoding === 'msgpack') bad.push(new Map([['\ud800', 1]]), new Map([[1, '\ud800']]), new Set(['\udfff']));
    for (const value of bad) await rejectsWithCode(db.insert('k', value), 'ERR_EMDB_INVALID_VALUE');
    // Well-formed values, including a literal backslash-u text and surrogate pairs, still round-trip.
    const good = { text: '\\ud800 is not an escape here', emoji: '😀', nested: [{ ['😀']: 'ok' }] };
    await db.insert('k', good);
    expect(await db.get('k')).toEqual(good);
    await db.close();
  });
});
