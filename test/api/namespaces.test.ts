import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb } from 'emdb-js';
import { rejectsWithCode, tempDirs } from '../helpers/common.js';

describe('namespaces', () => {
  const newDir = tempDirs();

  it('are isolated key spaces that survive reopen', async () => {
    const dir = newDir();
    const file = path.join(dir, 'n.emdb');
    const db = await Emdb.open(file, { readers: 1 });
    const users = await db.namespace('users');
    const orders = await db.namespace('orders');
    await db.insert('k', 'default');
    await users.insert('k', 'user');
    await orders.insertMany([['k', 'order'], ['o2', 'x']]);
    expect(db.getSync('k')?.toString()).toBe('default');
    expect(users.getSync('k')?.toString()).toBe('user');
    expect((await orders.get('k'))?.toString()).toBe('order');
    expect(await users.contains('o2')).toBe(false);
    expect(await db.len()).toBe(1);
    expect(await users.len()).toBe(1);
    expect(await orders.len()).toBe(2);
    expect(await users.remove('k')).toBe(true);
    expect(db.getSync('k')?.toString()).toBe('default');
    expect(await db.namespaces()).toEqual(['orders', 'users']);
    expect(await db.namespace('users')).toBe(users);
    await db.close();

    const again = await Emdb.open(file, { readers: 1 });
    expect(await again.namespaces()).toEqual(['orders', 'users']);
    const orders2 = await again.namespace('orders');
    expect(orders2.getSync('k')?.toString()).toBe('order');
    expect(await orders2.len()).toBe(2);
    expect(await (await again.namespace('users')).len()).toBe(0);
    expect(await again.len()).toBe(1);
    await again.close();
  });

  it('clear() and dropNamespace() touch only their namespace, also after reopen', async () => {
    const dir = newDir();
    const file = path.join(dir, 'n.emdb');
    const db = await Emdb.open(file, { readers: 1 });
    const a = await db.namespace('a');
    const b = await db.namespace('b');
    await Promise.all([db.insert('k', '0'), a.insert('k', 'a'), b.insert('k', 'b')]);
    await a.clear();
    expect(a.getSync('k')).toBeUndefined();
    expect(b.getSync('k')?.toString()).toBe('b');
    expect(await db.dropNamespace('b')).toBe(true);
    expect(await db.dropNamespace('b')).toBe(false);
    await rejectsWithCode(b.insert('x', 'y'), 'ERR_EMDB_CLOSED');
    expect(await db.namespaces()).toEqual(['a']);
    const b2 = await db.namespace('b');
    expect(b2.getSync('k')).toBeUndefined();
    expect(db.getSync('k')?.toString()).toBe('0');
    await db.close();
    const again = await Emdb.open(file, { readers: 1 });
    expect(await again.namespaces()).toEqual(['a', 'b']);
    expect((await again.namespace('b')).getSync('k')).toBeUndefined();
    expect(again.getSync('k')?.toString()).toBe('0');
    await again.close();
  });

  it('override the value encoding and validate names', async () => {
    const db = await Emdb.openInMemory({ readers: 1 });
    const docs = await db.namespace<{ n: number }>('docs', { valueEncoding: 'json' });
    await docs.insert('d', { n: 1 });
    expect(docs.getSync('d')).toEqual({ n: 1 });
    expect(await docs.getMany(['d', 'x'])).toEqual([{ n: 1 }, undefined]);
    await rejectsWithCode(db.namespace(''), 'ERR_EMDB_INVALID_CONFIG');
    await rejectsWithCode(db.namespace('x'.repeat(256)), 'ERR_EMDB_INVALID_CONFIG');
    await rejectsWithCode(db.namespace(5 as unknown as string), 'ERR_EMDB_INVALID_CONFIG');
    await db.close();
  });
});
