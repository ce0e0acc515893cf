/**
 * Ttl.Default and Ttl.Never are each a `unique symbol`, so a TTL argument is a
 * number or one of those two: any other symbol is a compile error (checked by
 * `tsc --noEmit`: the `@ts-expect-error` lines fail the typecheck if they
 * compile) as well as ERR_EMDB_INVALID_CONFIG at run time.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { Emdb, Ttl, type TtlArg } from 'emdb-js';

describe('TTL arguments are typed', () => {
  it('only a number, Ttl.Default or Ttl.Never type-checks', async () => {
    expectTypeOf(Ttl.Default).not.toEqualTypeOf<symbol>();
    expectTypeOf<symbol>().not.toMatchTypeOf<TtlArg>();
    expectTypeOf<TtlArg>().toEqualTypeOf<number | typeof Ttl.Default | typeof Ttl.Never>();

    const db = await Emdb.openInMemory({ readers: 1, valueEncoding: 'utf8' });
    await db.insertWithTtl('a', 'v', 60_000);
    await db.insertWithTtl('b', 'v', Ttl.Never);
    await db.insertWithTtl('c', 'v', Ttl.Default);
    // @ts-expect-error: a symbol of your own is not a TTL
    await expect(db.insertWithTtl('d', 'v', Symbol('x'))).rejects.toMatchObject({ code: 'ERR_EMDB_INVALID_CONFIG' });
    // @ts-expect-error: nor is a look-alike
    await expect(db.insertWithTtl('e', 'v', Symbol('emdb-js.Ttl.Never'))).rejects.toMatchObject({ code: 'ERR_EMDB_INVALID_CONFIG' });
    await expect(db.insertMany([['f', 'v']], { ttl: Ttl.Never })).resolves.toBe(1);
    expect(await db.len()).toBe(4);
    await db.close();
  });
});
