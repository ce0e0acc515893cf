/**
 * Iterators never block the writer: with an iterator held open on an attached
 * thread, the main thread writes, grows the index and compacts twice; the held
 * iterator still reads its own snapshot afterwards; then its thread is
 * terminated mid-iteration and the database carries on (nothing was
 * registered in shared memory for it to release).
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Emdb, FIXTURES } from '../helpers/common.js';

const next = (w: Worker, t: string): Promise<Record<string, unknown>> =>
  new Promise((resolve, reject) => {
    const on = (m: Record<string, unknown>): void => {
      if (m.t !== t) return;
      w.off('message', on);
      resolve(m);
    };
    w.on('message', on);
    w.once('error', reject);
  });

describe('what a range iterator holds', () => {
  it('a held iterator does not block writes or compaction; a terminated holder leaves nothing behind', async () => {
    const db = await Emdb.openInMemory({ rangeScans: true, readers: 1 });
    await db.insertMany(Array.from({ length: 1000 }, (_, i) => [`k${String(i).padStart(4, '0')}`, 'v'] as [string, string]));
    const holders = [0, 1].map(() => new Worker(path.join(FIXTURES, 'range-holder.js'), { workerData: db.handle() }));
    expect((await Promise.all(holders.map((w) => next(w, 'holding')))).map((m) => m.first)).toEqual(['k0000', 'k0000']);

    // Meanwhile: writes (new keys grow the index, removals), two compactions.
    for (let i = 0; i < 1000; i += 2) await db.remove(`k${String(i).padStart(4, '0')}`);
    await db.insertMany(Array.from({ length: 5000 }, (_, i) => [`n${i}`, 'w'] as [string, string]));
    await db.compact();
    await db.compact();
    expect(await db.len()).toBe(5500);

    // One holder finishes its snapshot: the 1,000 keys of its creation.
    holders[0]!.postMessage('finish');
    expect((await next(holders[0]!, 'rest')).n).toBe(1000);
    // The other is terminated mid-iteration; the database is unaffected.
    await Promise.all(holders.map((w) => w.terminate()));
    await db.insert('after', 'x');
    await db.compact();
    expect((await db.range('after', 'aftes')).map(([k]) => k.toString())).toEqual(['after']);
    expect(await db.len()).toBe(5501);
    await db.close();
  });
});
