import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Emdb, FIXTURES } from '../helpers/common.js';

function runWorker(handle: unknown): Promise<Record<string, unknown>> {
  const w = new Worker(path.join(FIXTURES, 'range-attached.js'), { workerData: handle });
  return new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
}

describe('range queries on an attached database', () => {
  it('an attached thread scans the sorted index itself, in key order', async () => {
    const db = await Emdb.openInMemory({ rangeScans: true, readers: 1 });
    for (const k of ['d', 'a', 'cb', 'c', 'b', 'ca']) await db.insert(k, `v${k}`);
    const ns = await db.namespace('n');
    await ns.insert('z', '1');
    const got = await runWorker(db.handle());
    expect(got).toEqual({
      range: ['b=vb', 'c=vc', 'ca=vca', 'cb=vcb'],
      prefix: ['c', 'ca', 'cb'],
      reverse: ['cb', 'ca'],
      after: ['ca', 'cb', 'd'],
      keys: ['a', 'b', 'c', 'ca', 'cb', 'd'],
      ns: ['z'],
    });
    await db.close();
  });

  it('without rangeScans an attached thread gets ERR_EMDB_RANGE_SCANS_DISABLED', async () => {
    const db = await Emdb.openInMemory({ readers: 1 });
    await db.insert('a', '1');
    expect(await runWorker(db.handle())).toEqual({ error: 'ERR_EMDB_RANGE_SCANS_DISABLED' });
    await db.close();
  });
});
