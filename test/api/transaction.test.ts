import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb } from 'emdb-js';
import { rejectsWithCode, tempDirs } from '../helpers/common.js';

describe('transactions', () => {
  const newDir = tempDirs();

  it('commit all writes at once, read their own writes, and survive reopen', async () => {
    const dir = newDir();
    const file = path.join(dir, 't.emdb');
    const db = await Emdb.open(file, { readers: 1 });
    await db.insert('existing', 'old');
    const out = await db.transaction(async (tx) => {
      tx.insert('a', '1');
      tx.insert('b', '2');
      expect((await tx.get('a'))?.toString()).toBe('1');
      expect((await tx.get('existing'))?.toString()).toBe('old');
      expect(await tx.remove('existing')).toBe(true);
      expect(await tx.get('existing')).toBeUndefined();
      // Nothing is visible outside before the commit.
      expect(db.getSync('a')).toBeUndefined();
      return 'done';
    });
    expect(out).toBe('done');
    expect(db.getSync('a')?.toString()).toBe('1');
    expect(db.getSync('existing')).toBeUndefined();
    await db.close();
    const again = await Emdb.open(file, { readers: 1 });
    expect(again.getSync('b')?.toString()).toBe('2');
    expect(await again.len()).toBe(2);
    await again.close();
  });

  it('a transaction that throws leaves no trace, also after reopen', async () => {
    const dir = newDir();
    const file = path.join(dir, 't.emdb');
    const db = await Emdb.open(file, { readers: 1 });
    await expect(
      db.transaction(async (tx) => {
        tx.insert('temp', 'value');
        await tx.remove('nothing');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    await rejectsWithCode(
      db.transaction((tx) => {
        tx.insert('temp2', 'value');
        tx.abort('changed my mind');
      }),
      'ERR_EMDB_TRANSACTION_ABORTED',
    );
    expect(db.getSync('temp')).toBeUndefined();
    const size = (await db.stats()).fileBytes;
    await db.close();
    const again = await Emdb.open(file, { readers: 1 });
    expect(await again.get('temp')).toBeUndefined();
    expect(await again.get('temp2')).toBeUndefined();
    expect((await again.stats()).fileBytes).toBe(size);
    await again.close();
  });

  it('serialises concurrent transactions (read-modify-write keeps every increment)', async () => {
    const db = await Emdb.openInMemory<string>({ readers: 1, valueEncoding: 'utf8' });
    await db.insert('counter', '0');
    await Promise.all(
      Array.from({ length: 50 }, () =>
        db.transaction(async (tx) => {
          const n = Number(await tx.get('counter'));
          tx.insert('counter', String(n + 1));
        }),
      ),
    );
    expect(db.getSync('counter')).toBe('50');
    await db.close();
  });

  it('spans namespaces: all of it commits, or none of it', async () => {
    const dir = newDir();
    const file = path.join(dir, 't.emdb');
    const db = await Emdb.open(file, { readers: 1 });
    await db.transaction(async (tx) => {
      const users = await tx.namespace('users');
      users.insert('u1', 'alice');
      tx.insert('count', '1');
      expect((await users.get('u1'))?.toString()).toBe('alice');
      expect(await tx.get('u1')).toBeUndefined();
    });
    await expect(
      db.transaction(async (tx) => {
        (await tx.namespace('users')).insert('u2', 'bob');
        tx.insert('count', '2');
        throw new Error('abort both');
      }),
    ).rejects.toThrow('abort both');
    await db.close();
    const again = await Emdb.open(file, { readers: 1 });
    const users = await again.namespace('users');
    expect(users.getSync('u1')?.toString()).toBe('alice');
    expect(users.getSync('u2')).toBeUndefined();
    expect(again.getSync('count')?.toString()).toBe('1');
    await again.close();
  });
});
