import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Emdb, tempDirs } from '../helpers/common.js';
import { fixtureWorker } from '../helpers/fixture-worker.js';

interface Reply {
  t: string;
  viaSync?: string;
  viaGet?: string;
  message?: string;
}

/** An attached worker answering one request at a time; its `error` replies reject. */
function attachedWorker(handle: unknown): { ask(msg: object): Promise<Reply>; ready: Promise<Reply>; worker: Worker } {
  const w = fixtureWorker<Reply>('ryw-worker.js', handle);
  const checked = (m: Reply): Reply => {
    if (m.t === 'error') throw new Error(m.message);
    return m;
  };
  return { worker: w.worker, ready: w.ready.then(checked), ask: (msg) => w.ask(msg).then(checked) };
}

describe('read-your-writes: once a write has resolved, every thread reads it', () => {
  const newDir = tempDirs();

  it('main getSync/get, the reader pool and an attached worker see each resolved write, both ways', async () => {
    const db = await Emdb.open(path.join(newDir(), 'ryw.emdb'), { readers: 2 });
    const w = attachedWorker(db.handle());
    try {
      expect((await w.ready).t).toBe('attached');
      for (let round = 0; round < 40; round++) {
        // Main writes, then (after its promise resolved) the worker reads it both ways.
        await db.insert('k', `main:${round}`);
        expect(db.getSync('k')?.toString()).toBe(`main:${round}`);
        expect((await db.get('k'))?.toString()).toBe(`main:${round}`);
        const seen = await w.ask({ t: 'read', key: 'k' });
        expect([seen.viaSync, seen.viaGet]).toEqual([`main:${round}`, `main:${round}`]);
        // The worker writes; once its promise resolved (it answered), main reads it through getSync and the pool.
        await w.ask({ t: 'write', key: 'k', value: `worker:${round}` });
        expect(db.getSync('k')?.toString()).toBe(`worker:${round}`);
        expect((await db.get('k'))?.toString()).toBe(`worker:${round}`);
        expect((await db.getMany(['k']))[0]?.toString()).toBe(`worker:${round}`);
      }
    } finally {
      await w.ask({ t: 'close', key: '' });
      await w.worker.terminate();
      await db.close();
    }
  });

  it('holds across index rebuilds: a write that grew the table is read by the worker at once', async () => {
    const db = await Emdb.openInMemory({ readers: 2 });
    const w = attachedWorker(db.handle());
    try {
      await w.ready;
      // The index starts at 1024 slots: each round doubles it at least once.
      let written = 0;
      for (let round = 0; round < 5; round++) {
        const target = 1024 << round;
        const entries: [string, string][] = [];
        for (; written < target; written++) entries.push([`grow:${written}`, `v${written}`]);
        await db.insertMany(entries);
        const last = `grow:${written - 1}`;
        const seen = await w.ask({ t: 'read', key: last });
        expect([seen.viaSync, seen.viaGet]).toEqual([`v${written - 1}`, `v${written - 1}`]);
        expect(db.getSync(last)?.toString()).toBe(`v${written - 1}`);
      }
    } finally {
      await w.ask({ t: 'close', key: '' });
      await w.worker.terminate();
      await db.close();
    }
  });

  it('a write that was not awaited is not promised to be visible yet on the same thread (documented), and is once it resolves', async () => {
    const db = await Emdb.openInMemory({ readers: 1 });
    await db.insert('k', 'old');
    const pending = db.insert('k', 'new');
    // Still queued in this tick: the writer has not seen it, so the shared index holds the old value.
    expect(db.getSync('k')?.toString()).toBe('old');
    await pending;
    expect(db.getSync('k')?.toString()).toBe('new');
    expect((await db.get('k'))?.toString()).toBe('new');
    await db.close();
  });
});
