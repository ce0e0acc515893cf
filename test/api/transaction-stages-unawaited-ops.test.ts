/**
 * Issue 12, defect 9: tx.remove() staged its removal only after an awaited
 * lookup, so a remove() the callback did not await was missing from the commit
 * while its promise still resolved true. Staging now takes effect when called:
 * the commit holds every operation issued before the callback settled, in the
 * order issued.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, tempDirs } from '../helpers/common.js';

describe('a transaction commits every operation issued before its callback settled, awaited or not', () => {
  const newDir = tempDirs('emdb-tx-unawaited-');

  it('an unawaited tx.remove() is in the commit, and its promise tells the key existed', async () => {
    const file = path.join(newDir(), 't.emdb');
    const db = await Emdb.open(file, { readers: 1 });
    await db.insert('gone', 'x');
    await db.insert('kept', 'y');
    let removed: Promise<boolean> | undefined;
    let missing: Promise<boolean> | undefined;
    await db.transaction((tx) => {
      removed = tx.remove('gone');
      missing = tx.remove('never-there');
      tx.insert('added', 'z');
    });
    expect(await removed).toBe(true);
    expect(await missing).toBe(false);
    expect(db.getSync('gone')).toBeUndefined();
    expect(db.getSync('kept')?.toString()).toBe('y');
    expect(db.getSync('added')?.toString()).toBe('z');
    await db.close();
    const again = await Emdb.open(file, { readers: 1 });
    expect(again.getSync('gone')).toBeUndefined();
    await again.close();
  });

  it('remove then insert of one key, unawaited, keeps the insert (issue order, not completion order)', async () => {
    const db = await Emdb.open(path.join(newDir(), 't.emdb'), { readers: 1 });
    await db.insert('k', 'old');
    await db.transaction((tx) => {
      void tx.remove('k');
      tx.insert('k', 'new');
    });
    expect(db.getSync('k')?.toString()).toBe('new');
    await db.close();
  });

  it('insert then unawaited remove of one key in a namespace: removed, and the remove reports the staged insert', async () => {
    const db = await Emdb.open(path.join(newDir(), 't.emdb'), { readers: 1 });
    const ns = await db.namespace('n');
    let existed: Promise<boolean> | undefined;
    await db.transaction(async (tx) => {
      const n = await tx.namespace('n');
      n.insert('k', 'v');
      existed = n.remove('k');
    });
    expect(await existed).toBe(true);
    expect(ns.getSync('k')).toBeUndefined();
    await db.close();
  });

  it('a remove() after the transaction settled is refused (ERR_EMDB_TRANSACTION_ABORTED), not silently dropped', async () => {
    const db = await Emdb.open(path.join(newDir(), 't.emdb'), { readers: 1 });
    await db.insert('k', 'v');
    let leaked: { remove(key: string): Promise<boolean> } | undefined;
    await db.transaction((tx) => {
      leaked = tx;
    });
    await expect(leaked!.remove('k')).rejects.toMatchObject({ code: 'ERR_EMDB_TRANSACTION_ABORTED' });
    expect(db.getSync('k')?.toString()).toBe('v');
    await db.close();
  });
});
