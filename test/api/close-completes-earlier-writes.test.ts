/**
 * The close() contract (issue 12, item 4): writes issued before close() complete
 * and are durable after it; everything issued after it rejects with
 * ERR_EMDB_CLOSED. The rejections of work cut off by close() are covered, in a
 * child process, by test/reliability/handled-errors-never-crash.test.ts.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, rejectsWithCode, tempDirs } from '../helpers/common.js';

describe('close() completes the writes issued before it and refuses everything after it', () => {
  const newDir = tempDirs('emdb-close-');

  it.each(['onEachFlush', 'group', 'writeThrough'] as const)('%s: unawaited insert/remove/insertMany/flush issued before close() resolve and are in the file after reopen', async (kind) => {
    const file = path.join(newDir(), 'c.emdb');
    const flushPolicy = kind === 'group' ? { kind, maxWaitMs: 2, maxBatch: 8 } : { kind };
    const db = await Emdb.open(file, { readers: 1, flushPolicy });
    await db.insert('old', '1');
    const issued = [
      db.insert('a', '1'),
      db.remove('old'),
      db.insertMany([
        ['b', '2'],
        ['c', '3'],
      ]),
      db.flush(),
      db.insert('d', '4'),
    ];
    const closing = db.close();
    const outcomes = await Promise.allSettled(issued);
    await closing;
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
    const again = await Emdb.open(file, { readers: 1 });
    expect([...['a', 'b', 'c', 'd'].map((k) => again.getSync(k)?.toString()), again.getSync('old')]).toEqual(['1', '2', '3', '4', undefined]);
    await again.close();
  });

  it('after close(): writes, reads, iterators, transactions and insertMany reject with ERR_EMDB_CLOSED; close() again resolves', async () => {
    const db = await Emdb.open(path.join(newDir(), 'c.emdb'), { readers: 1 });
    await db.insert('k', 'v');
    await db.close();
    await rejectsWithCode(db.insert('x', 'y'), 'ERR_EMDB_CLOSED');
    await rejectsWithCode(db.get('k'), 'ERR_EMDB_CLOSED');
    await rejectsWithCode(db.insertMany([['x', 'y']]), 'ERR_EMDB_CLOSED');
    await rejectsWithCode(db.transaction((tx) => tx.insert('x', 'y')), 'ERR_EMDB_CLOSED');
    await rejectsWithCode(db.iter().next(), 'ERR_EMDB_CLOSED');
    await rejectsWithCode(db.keys().next(), 'ERR_EMDB_CLOSED');
    await db.close();
  });
});
