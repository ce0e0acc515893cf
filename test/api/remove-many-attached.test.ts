/**
 * removeMany on an attached worker thread (Emdb.attach): the bulk path's chunks
 * travel over the attached link (cloned, not transferred) and the counts come
 * back from the writer's per-record answer, in the default namespace and in a
 * named one; the opening thread sees the removals.
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Emdb } from 'emdb-js';
import { FIXTURES, tempDirs } from '../helpers/common.js';

describe('removeMany on an attached thread', () => {
  const newDir = tempDirs('emdb-remove-many-attached-');

  it('removes in both namespaces, counts what existed, refuses an invalid key', async () => {
    const db = await Emdb.open(path.join(newDir(), 'a.emdb'), { readers: 1 });
    const ns = await db.namespace('other');
    // Long keys: the default namespace's removal spans several 1 MiB chunks.
    const long = (i: number) => `key-${i}-`.padEnd(600, 'x');
    await db.insertMany(Array.from({ length: 10_000 }, (_, i) => [long(i), 'v'] as [string, string]));
    await ns.insertMany(Array.from({ length: 100 }, (_, i) => [`n${i}`, 'v'] as [string, string]));
    const keys = [...Array.from({ length: 9_000 }, (_, i) => long(i)), 'missing', long(0)];
    const nsKeys = ['n1', 'n2', 'n2', 'n999'];
    const worker = new Worker(path.join(FIXTURES, 'remove-many-worker.js'), { workerData: { handle: db.handle(), keys, nsKeys } });
    const reply = await new Promise<Record<string, unknown>>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    expect(reply).toEqual({ t: 'done', removed: 9_000, removedNs: 2, badKey: 'ERR_EMDB_INVALID_KEY' });
    expect(await db.len()).toBe(1_000);
    expect(db.getSync(long(0))).toBeUndefined();
    expect(db.getSync(long(9_000))?.toString()).toBe('v');
    expect(await ns.len()).toBe(98);
    expect(ns.getSync('n2')).toBeUndefined();
    await db.close();
  });
});
