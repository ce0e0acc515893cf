import { describe, expect, it } from 'vitest';
import { Emdb, Ttl } from '../../dist/src/index.js';
import { rejectsWithCode } from '../helpers/common.js';

describe('TTL arguments', () => {
  it('Ttl.Default and Ttl.Never are symbols', () => {
    expect(typeof Ttl.Default).toBe('symbol');
    expect(typeof Ttl.Never).toBe('symbol');
  });

  it('bad TTLs are refused with ERR_EMDB_INVALID_CONFIG and write nothing', async () => {
    const db = await Emdb.openInMemory({ readers: 1 });
    try {
      const bad: unknown[] = [-1, NaN, Infinity, -Infinity, 2 ** 53, '100', null, undefined, {}, Symbol('other'), 10n];
      for (const ttl of bad) {
        await rejectsWithCode(() => db.insertWithTtl('k', 'v', ttl as number), 'ERR_EMDB_INVALID_CONFIG');
        // insertMany's `ttl` may be left out (Ttl.Default); every other bad value is refused.
        if (ttl !== undefined) await rejectsWithCode(() => db.insertMany([['k', 'v']], { ttl: ttl as number }), 'ERR_EMDB_INVALID_CONFIG');
        await rejectsWithCode(
          db.transaction((tx) => tx.insertWithTtl('k', 'v', ttl as number)),
          'ERR_EMDB_INVALID_CONFIG',
        );
      }
      // A deadline past 2^53 ms since the epoch.
      await rejectsWithCode(() => db.insertWithTtl('k', 'v', 2 ** 53 - 10), 'ERR_EMDB_INVALID_CONFIG');
      await rejectsWithCode(() => db.insertMany([['k', 'v']], { ttl: 5, other: 1 } as never), 'ERR_EMDB_INVALID_CONFIG');
      expect(await db.len()).toBe(0);
      expect((await db.stats()).writes).toBe(0);
    } finally {
      await db.close();
    }
  });

  it('defaultTtl must be a positive number of milliseconds, on the database and on namespaces', async () => {
    for (const defaultTtl of [0, -5, NaN, Infinity, '10', 2 ** 53]) {
      await rejectsWithCode(Emdb.openInMemory({ defaultTtl: defaultTtl as number }), 'ERR_EMDB_INVALID_CONFIG');
    }
    const db = await Emdb.openInMemory({ readers: 1 });
    try {
      await rejectsWithCode(db.namespace('n', { defaultTtl: -1 }), 'ERR_EMDB_INVALID_CONFIG');
      await rejectsWithCode(db.namespace('n', { defaultTtl: 10, ttl: 3 } as never), 'ERR_EMDB_INVALID_CONFIG');
    } finally {
      await db.close();
    }
  });

  it('plain insert applies the defaultTtl; a namespace overrides it; Ttl.Never opts out', async () => {
    const db = await Emdb.openInMemory({ readers: 1, defaultTtl: 60_000 });
    try {
      await db.insert('a', 'v');
      await db.insertWithTtl('b', 'v', Ttl.Never);
      await db.insertWithTtl('c', 'v', Ttl.Default);
      await db.insertMany([['d', 'v']]);
      await db.transaction((tx) => tx.insert('e', 'v'));
      const ns = await db.namespace('n', { defaultTtl: 5_000 });
      await ns.insert('a', 'v');
      const plain = await db.namespace('p');
      await plain.insert('a', 'v');
      for (const k of ['a', 'c', 'd', 'e']) expect(await db.ttl(k)).toBeGreaterThan(55_000);
      expect(await db.ttl('b')).toBeUndefined();
      expect(await ns.ttl('a')).toBeLessThanOrEqual(5_000);
      expect(await plain.ttl('a')).toBeGreaterThan(55_000);
      expect(await db.expiresAt('a')).toBeGreaterThan(Date.now());
      // Inside a transaction, an open namespace keeps its own defaultTtl.
      await db.transaction(async (tx) => (await tx.namespace('n')).insert('t', 'v'));
      expect(await ns.ttl('t')).toBeLessThanOrEqual(5_000);
    } finally {
      await db.close();
    }
  });

  it('a separator option is a short non-empty string', async () => {
    for (const separator of ['', 5, 'x'.repeat(9)]) {
      await rejectsWithCode(Emdb.openInMemory({ separator: separator as string }), 'ERR_EMDB_INVALID_CONFIG');
    }
  });
});
