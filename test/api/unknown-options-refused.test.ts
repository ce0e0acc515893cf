import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, tempDirs } from '../helpers/common.js';

/** The EmdbError a promise rejects with (the test fails if it resolves). */
async function refusal(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    const db = await p;
    await (db as { close?: () => Promise<void> }).close?.();
  } catch (err) {
    return err as { code?: string; message: string };
  }
  throw new Error('expected a refusal, but it resolved');
}

describe('misspelled and unknown options are refused, naming the option', () => {
  const newDir = tempDirs();

  it.each([
    ['flushpolicy', 'flushPolicy', { flushpolicy: { kind: 'group' } }],
    ['reader', 'readers', { reader: 1 }],
    ['valueencoding', 'valueEncoding', { valueencoding: 'json' }],
    ['databasename', 'databaseName', { databasename: 'x.emdb' }],
  ])('top level: %s (did you mean %s)', async (typo, meant, options) => {
    const err = await refusal(Emdb.openInMemory(options as never));
    expect(err.code).toBe('ERR_EMDB_INVALID_CONFIG');
    expect(err.message).toContain(typo);
    expect(err.message).toContain(`did you mean ${meant}`);
    const onDisk = await refusal(Emdb.open(path.join(newDir(), 'a.emdb'), options as never));
    expect(onDisk.code).toBe('ERR_EMDB_INVALID_CONFIG');
  });

  it('nested: an unknown field of flushPolicy, and group fields on another kind', async () => {
    const maxWait = await refusal(Emdb.openInMemory({ flushPolicy: { kind: 'group', maxWait: 5 } as never }));
    expect(maxWait.code).toBe('ERR_EMDB_INVALID_CONFIG');
    expect(maxWait.message).toContain('flushPolicy.maxWait');
    expect(maxWait.message).toContain('did you mean flushPolicy.maxWaitMs');
    const stray = await refusal(Emdb.openInMemory({ flushPolicy: { kind: 'onEachFlush', maxBatch: 8 } as never }));
    expect(stray.code).toBe('ERR_EMDB_INVALID_CONFIG');
    expect(stray.message).toContain('flushPolicy.maxBatch');
    const kind = await refusal(Emdb.openInMemory({ flushPolicy: { kind: 'gruop' } as never }));
    expect(kind.message).toContain("did you mean 'group'");
  });

  it('namespace options are checked too', async () => {
    const db = await Emdb.openInMemory({ readers: 1 });
    const err = await refusal(db.namespace('users', { valueencoding: 'json' } as never));
    expect(err.code).toBe('ERR_EMDB_INVALID_CONFIG');
    expect(err.message).toContain('valueencoding');
    expect(await db.namespaces()).toEqual([]);
    await db.close();
  });

  it('Emdb.open(undefined) and Emdb.open(null) are refused; Emdb.open(path, null) too', async () => {
    for (const nullish of [undefined, null]) {
      const err = await refusal(Emdb.open(nullish as never));
      expect(err.code).toBe('ERR_EMDB_INVALID_CONFIG');
    }
    expect((await refusal(Emdb.open(path.join(newDir(), 'b.emdb'), null as never))).code).toBe('ERR_EMDB_INVALID_CONFIG');
    expect((await refusal(Emdb.openInMemory(null as never))).code).toBe('ERR_EMDB_INVALID_CONFIG');
  });

  it.each([[-1], [0], [65536], ['64MB'], [Number.NaN], [1.5], [2 ** 52]])('cacheSize %s is refused (a whole number of bytes from two pages to the machine memory is accepted)', async (bad) => {
    const err = await refusal(Emdb.openInMemory({ cacheSize: bad as never }));
    expect(err.code).toBe('ERR_EMDB_INVALID_CONFIG');
    expect(err.message).toContain('cacheSize');
  });

  it('Emdb.open() with no argument still opens the default database, and known options still work', async () => {
    const home = newDir();
    const saved = process.env.XDG_DATA_HOME;
    process.env.XDG_DATA_HOME = home;
    try {
      if (os.platform() === 'linux') {
        const db = await Emdb.open();
        expect(db.path).toBe(path.join(home, 'emdb', 'emdb-default.emdb'));
        await db.close();
      }
    } finally {
      if (saved === undefined) delete process.env.XDG_DATA_HOME;
      else process.env.XDG_DATA_HOME = saved;
    }
    const db = await Emdb.open(path.join(newDir(), 'c.emdb'), { readers: 1, flushPolicy: { kind: 'group', maxWaitMs: 2, maxBatch: 4 }, valueEncoding: 'utf8', cacheSize: 1 << 20 });
    await db.insert('k', 'v');
    expect(db.getSync('k')).toBe('v');
    await db.close();
  });
});
