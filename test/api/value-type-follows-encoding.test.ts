/**
 * The value type of a database or namespace follows its `valueEncoding`, as
 * the values do at run time: 'binary' (the default) → Buffer, 'utf8' →
 * string, 'json' / 'msgpack' → any, and a named type argument wins. The
 * type-level half is checked by `tsc --noEmit` (npm run typecheck): an
 * `expectTypeOf` that stops holding, or a `@ts-expect-error` line that stops
 * being an error, fails the typecheck; the run-time half shows the types tell
 * the truth.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { Emdb, type OpenOptions, type ValueEncoding } from 'emdb-js';
import { tempDirs } from '../helpers/common.js';

interface Session {
  userId: string;
  createdAt: number;
}

describe('the value type follows valueEncoding', () => {
  const newDir = tempDirs();

  it('Emdb.open: Buffer by default, string for utf8, any for json and msgpack', async () => {
    const dir = newDir();
    const bin = await Emdb.open(`${dir}/bin.emdb`, { readers: 1 });
    const text = await Emdb.open(`${dir}/text.emdb`, { readers: 1, valueEncoding: 'utf8' });
    const json = await Emdb.open({ path: `${dir}/json.emdb`, readers: 1, valueEncoding: 'json' });
    const pack = await Emdb.open(`${dir}/pack.emdb`, { readers: 1, valueEncoding: 'msgpack' });
    expectTypeOf(bin).toEqualTypeOf<Emdb<Buffer>>();
    expectTypeOf(text).toEqualTypeOf<Emdb<string>>();
    expectTypeOf(json.getSync('k')).toBeAny();
    expectTypeOf(pack.getSync('k')).toBeAny();

    await bin.insert('k', 'v');
    await text.insert('k', 'v');
    await json.insert('k', { n: 1 });
    await pack.insert('k', { n: 1 });
    expect(Buffer.isBuffer(bin.getSync('k'))).toBe(true);
    expect(text.getSync('k')).toBe('v');
    const s: string | undefined = text.getSync('k');
    expect(s?.toUpperCase()).toBe('V');
    // @ts-expect-error: a utf8 database's values are strings, not Buffers
    const b: Buffer | undefined = text.getSync('k');
    expect(Buffer.isBuffer(b)).toBe(false);
    expect((json.getSync('k') as { n: number }).n).toBe(1);
    expect(await pack.get('k')).toEqual({ n: 1 });
    await Promise.all([bin.close(), text.close(), json.close(), pack.close()]);
  });

  it('Emdb.openInMemory follows it too', async () => {
    const text = await Emdb.openInMemory({ readers: 1, valueEncoding: 'utf8' });
    const bin = await Emdb.openInMemory({ readers: 1 });
    expectTypeOf(text).toEqualTypeOf<Emdb<string>>();
    expectTypeOf(bin).toEqualTypeOf<Emdb<Buffer>>();
    await text.insert('k', 'v');
    expect(text.getSync('k')).toBe('v');
    await Promise.all([text.close(), bin.close()]);
  });

  it('a namespace has the database type, or its own valueEncoding', async () => {
    const db = await Emdb.openInMemory({ readers: 1, valueEncoding: 'utf8' });
    const inherited = await db.namespace('plain');
    const json = await db.namespace('docs', { valueEncoding: 'json' });
    const bin = await db.namespace('blobs', { valueEncoding: 'binary', defaultTtl: 60_000 });
    expectTypeOf(inherited.getSync('k')).toEqualTypeOf<string | undefined>();
    expectTypeOf(json.getSync('k')).toBeAny();
    expectTypeOf(bin.getSync('k')).toEqualTypeOf<Buffer | undefined>();
    await inherited.insert('k', 'v');
    await json.insert('k', [1, 2]);
    await bin.insert('k', 'v');
    expect(inherited.getSync('k')).toBe('v');
    expect(json.getSync('k')).toEqual([1, 2]);
    expect(Buffer.isBuffer(bin.getSync('k'))).toBe(true);
    await db.close();
  });

  it('a named type argument wins, and instantiation expressions keep working', async () => {
    const db = await Emdb.openInMemory<Session>({ readers: 1, valueEncoding: 'json' });
    expectTypeOf(db).toEqualTypeOf<Emdb<Session>>();
    await db.insert('s', { userId: 'u', createdAt: 1 });
    // @ts-expect-error: not a Session
    await db.insert('t', { user: 'u' }).catch(() => undefined);
    expect(db.getSync('s')?.userId).toBe('u');
    const ns = await db.namespace<{ n: number }>('counts', { valueEncoding: 'msgpack' });
    expectTypeOf(ns.getSync('k')).toEqualTypeOf<{ n: number } | undefined>();
    expectTypeOf<Awaited<ReturnType<typeof Emdb.open<Buffer>>>>().toEqualTypeOf<Emdb<Buffer>>();
    expectTypeOf(Emdb.open<string>).returns.resolves.toEqualTypeOf<Emdb<string>>();
    await db.close();
  });

  it('an encoding known only at run time gives any; a wrong one does not compile', async () => {
    const encoding = 'utf8' as ValueEncoding;
    const options: OpenOptions = { readers: 1, valueEncoding: encoding };
    const db = await Emdb.openInMemory(options);
    expectTypeOf(db.getSync('k')).toBeAny();
    await db.close();
    // @ts-expect-error: not an encoding
    await expect(Emdb.openInMemory({ readers: 1, valueEncoding: 'utf-8' })).rejects.toMatchObject({ code: 'ERR_EMDB_INVALID_CONFIG' });
  });
});
