import { describe, expect, it } from 'vitest';
import { Emdb } from 'emdb-js';
import { rejectsWithCode } from '../helpers/common.js';

describe('bad input is rejected with a typed error before anything is written', () => {
  it('rejects bad keys', async () => {
    const db = await Emdb.openInMemory({ readers: 1 });
    await rejectsWithCode(db.insert('', 'v'), 'ERR_EMDB_INVALID_KEY');
    await rejectsWithCode(db.insert(new Uint8Array(0), 'v'), 'ERR_EMDB_INVALID_KEY');
    await rejectsWithCode(db.insert(42 as unknown as string, 'v'), 'ERR_EMDB_INVALID_KEY');
    await rejectsWithCode(db.insert(null as unknown as string, 'v'), 'ERR_EMDB_INVALID_KEY');
    await rejectsWithCode(db.get({} as unknown as string), 'ERR_EMDB_INVALID_KEY');
    await rejectsWithCode(db.insert('k'.repeat(16 * 1024 + 1), 'v'), 'ERR_EMDB_KEY_TOO_LARGE');
    await rejectsWithCode(db.insert('é'.repeat(8 * 1024 + 1), 'v'), 'ERR_EMDB_KEY_TOO_LARGE');
    expect(() => db.getSync('')).toThrowError(expect.objectContaining({ code: 'ERR_EMDB_INVALID_KEY' }));
    await rejectsWithCode(db.remove(''), 'ERR_EMDB_INVALID_KEY');
    expect(await db.len()).toBe(0);
    await db.close();
  });

  it('rejects bad values and oversized values', async () => {
    const db = await Emdb.openInMemory({ readers: 1 });
    await rejectsWithCode(db.insert('k', 5 as unknown as string), 'ERR_EMDB_INVALID_VALUE');
    await rejectsWithCode(db.insert('k', { a: 1 } as unknown as string), 'ERR_EMDB_INVALID_VALUE');
    await rejectsWithCode(db.insert('k', new Uint8Array(64 * 1024 * 1024 + 1)), 'ERR_EMDB_VALUE_TOO_LARGE');
    await rejectsWithCode(db.insertMany([['ok', 'v'], ['', 'v']]), 'ERR_EMDB_INVALID_KEY');
    await rejectsWithCode(db.insertMany(5 as unknown as []), 'ERR_EMDB_INVALID_CONFIG');
    expect(await db.len()).toBe(0);
    await db.insert('k', new Uint8Array(0));
    expect((await db.get('k'))?.length).toBe(0);
    await db.close();
  });

  it('rejects bad options', async () => {
    await rejectsWithCode(Emdb.open({ path: '/tmp/x.emdb', appName: 'a' }), 'ERR_EMDB_INVALID_CONFIG');
    await rejectsWithCode(Emdb.open('/tmp/x.emdb', { dataRoot: '/tmp' }), 'ERR_EMDB_INVALID_CONFIG');
    await rejectsWithCode(Emdb.openInMemory({ readers: 0 }), 'ERR_EMDB_INVALID_CONFIG');
    await rejectsWithCode(Emdb.openInMemory({ flushPolicy: { kind: 'sometimes' } as never }), 'ERR_EMDB_INVALID_CONFIG');
    await rejectsWithCode(Emdb.openInMemory({ valueEncoding: 'xml' as never }), 'ERR_EMDB_INVALID_CONFIG');
    await rejectsWithCode(Emdb.openInMemory({ rangeScans: 'yes' as never }), 'ERR_EMDB_INVALID_CONFIG');
    await rejectsWithCode(Emdb.openInMemory({ collectAfterCompaction: 'no' as never }), 'ERR_EMDB_INVALID_CONFIG');
    await rejectsWithCode(Emdb.open({ appName: '../escape', dataRoot: '/tmp' }), 'ERR_EMDB_INVALID_CONFIG');
  });

  it('refuses every call after close with ERR_EMDB_CLOSED', async () => {
    const db = await Emdb.openInMemory({ readers: 1 });
    await db.insert('k', 'v');
    await db.close();
    await db.close(); // idempotent
    await rejectsWithCode(db.insert('k', 'v'), 'ERR_EMDB_CLOSED');
    await rejectsWithCode(db.get('k'), 'ERR_EMDB_CLOSED');
    await rejectsWithCode(db.flush(), 'ERR_EMDB_CLOSED');
    expect(() => db.getSync('k')).toThrowError(expect.objectContaining({ code: 'ERR_EMDB_CLOSED' }));
  });
});

describe('value encodings', () => {
  it('round-trips utf8, json and msgpack values', async () => {
    const u = await Emdb.openInMemory<string>({ readers: 1, valueEncoding: 'utf8' });
    await u.insert('k', 'héllo ✓');
    expect(u.getSync('k')).toBe('héllo ✓');
    expect(await u.get('k')).toBe('héllo ✓');
    await u.close();
    const j = await Emdb.openInMemory<{ a: number[] }>({ readers: 1, valueEncoding: 'json' });
    await j.insert('k', { a: [1, 2] });
    expect(j.getSync('k')).toEqual({ a: [1, 2] });
    expect(await j.getMany(['k', 'x'])).toEqual([{ a: [1, 2] }, undefined]);
    await j.close();
    const m = await Emdb.openInMemory<{ d: Date; b: Uint8Array }>({ readers: 1, valueEncoding: 'msgpack' });
    await m.insert('k', { d: new Date(5), b: new Uint8Array([1]) });
    expect(m.getSync('k')?.d.getTime()).toBe(5);
    await m.close();
  });
});
