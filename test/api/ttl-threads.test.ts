/**
 * One clock for every thread: moving the test clock on the opening thread
 * hides an expired record from an attached worker thread (get and getSync)
 * and from the reader pool (get, getMany, iter), with no sleep.
 */
import path from 'node:path';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Emdb } from '../../dist/src/index.js';
import { advanceTestClock } from '../../dist/src/testing.js';
import { FIXTURES } from '../helpers/common.js';

describe('expiry on every thread', () => {
  it('an attached thread and the reader pool stop serving a record when the shared clock passes its deadline', async () => {
    const db = await Emdb.openInMemory({ readers: 2 });
    const worker = new Worker(path.join(FIXTURES, 'attached-worker.js'), { workerData: db.handle() });
    try {
      expect((await once(worker, 'message'))[0]).toMatchObject({ t: 'attached' });
      await db.insertWithTtl('k', 'v', 60_000);
      await db.insert('plain', 'p');
      worker.postMessage({ t: 'read', key: 'k' });
      expect((await once(worker, 'message'))[0]).toMatchObject({ viaGet: 'v', viaSync: 'v' });
      await advanceTestClock(db, 61_000);
      worker.postMessage({ t: 'read', key: 'k' });
      expect((await once(worker, 'message'))[0]).toMatchObject({ viaGet: undefined, viaSync: undefined });
      expect(await db.get('k')).toBeUndefined();
      expect(await db.getMany(['k', 'plain'])).toEqual([undefined, Buffer.from('p')]);
      const keys: string[] = [];
      for await (const key of db.keys()) keys.push(key.toString());
      expect(keys).toEqual(['plain']);
    } finally {
      await worker.terminate();
      await db.close();
    }
  });
});
