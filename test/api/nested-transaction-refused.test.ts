/**
 * Issue 12, defect 3: a transaction started inside another transaction of the
 * same database used to wait for the outer one, which waited for it: both hung
 * forever, and every later transaction queued behind them, across close().
 * Now it is refused at once with ERR_EMDB_TRANSACTION_ABORTED. A hang makes
 * these tests fail by the test timeout.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, rejectsWithCode, tempDirs } from '../helpers/common.js';

describe('a transaction inside another transaction of the same database is refused, nothing hangs', () => {
  const newDir = tempDirs('emdb-nested-tx-');

  it('refuses the inner transaction with ERR_EMDB_TRANSACTION_ABORTED; the outer one commits; later transactions run', async () => {
    const db = await Emdb.open(path.join(newDir(), 'n.emdb'), { readers: 1 });
    const out = await db.transaction(async (tx) => {
      tx.insert('outer', '1');
      await rejectsWithCode(
        db.transaction((inner) => inner.insert('inner', '1')),
        'ERR_EMDB_TRANSACTION_ABORTED',
      );
      return 'outer done';
    });
    expect(out).toBe('outer done');
    expect(db.getSync('outer')?.toString()).toBe('1');
    expect(db.getSync('inner')).toBeUndefined();
    await db.transaction((tx) => tx.insert('later', '1'));
    expect(db.getSync('later')?.toString()).toBe('1');
    await db.close();
  });

  it('also when started deeper in the outer callback\'s async work (awaits, timers), and rejected with the error unawaited the outer one sees it', async () => {
    const db = await Emdb.open(path.join(newDir(), 'n.emdb'), { readers: 1 });
    const err = await db
      .transaction(async () => {
        await new Promise((r) => setTimeout(r, 1));
        await db.get('x');
        // Not caught: the outer transaction rejects with it and commits nothing.
        await db.transaction(() => undefined);
      })
      .then(
        () => undefined,
        (e: unknown) => e as { code?: string },
      );
    expect(err?.code).toBe('ERR_EMDB_TRANSACTION_ABORTED');
    await db.close();
  });

  it('independent concurrent transactions still queue and all commit, one at a time', async () => {
    const db = await Emdb.open(path.join(newDir(), 'n.emdb'), { readers: 1 });
    let running = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        db.transaction(async (tx) => {
          running++;
          most = Math.max(most, running);
          await new Promise((r) => setImmediate(r));
          tx.insert(`k${i}`, String(i));
          running--;
        }),
      ),
    );
    expect(most).toBe(1);
    expect(await db.len()).toBe(8);
    await db.close();
  });

  it('a transaction of another database may run inside a transaction', async () => {
    const a = await Emdb.open(path.join(newDir(), 'a.emdb'), { readers: 1 });
    const b = await Emdb.open(path.join(newDir(), 'b.emdb'), { readers: 1 });
    await a.transaction(async (tx) => {
      tx.insert('a', '1');
      await b.transaction((tb) => tb.insert('b', '1'));
    });
    expect(a.getSync('a')?.toString()).toBe('1');
    expect(b.getSync('b')?.toString()).toBe('1');
    await a.close();
    await b.close();
  });

  it('a callback that outlives its transaction (a continuation set up inside it) may start a new one', async () => {
    const db = await Emdb.open(path.join(newDir(), 'n.emdb'), { readers: 1 });
    let release!: () => void;
    let later: Promise<void> | undefined;
    await db.transaction((tx) => {
      tx.insert('first', '1');
      // Runs in this transaction's async context, but after it has committed.
      later = new Promise<void>((r) => (release = r)).then(() => db.transaction((t2) => t2.insert('second', '1')));
    });
    release();
    await later;
    expect(db.getSync('second')?.toString()).toBe('1');
    await db.close();
  });

  it('a transaction queued behind a running one when close() is called rejects with ERR_EMDB_CLOSED', async () => {
    const db = await Emdb.open(path.join(newDir(), 'n.emdb'), { readers: 1 });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    const first = db.transaction(async (tx) => {
      started();
      await gate;
      tx.insert('first', '1');
    });
    const queued = db.transaction((tx) => tx.insert('queued', '1'));
    await running;
    const closing = db.close();
    await rejectsWithCode(queued, 'ERR_EMDB_CLOSED');
    release();
    // The running one settles too (its commit comes after close(): refused).
    await rejectsWithCode(first, 'ERR_EMDB_CLOSED');
    await closing;
  });
});
