/**
 * A namespace dropped on one thread is dropped for every thread. A worker (or
 * the main thread) that held a Namespace handle from before the drop used to
 * keep it: its inserts resolved and were discarded (acknowledged writes lost),
 * its reads missed, and after the namespace was created again under the same
 * name `db.namespace(name)` on that thread still returned the old handle, so it
 * never saw the new data. Calls on a dropped handle must reject with
 * ERR_EMDB_CLOSED on every thread, and `db.namespace(name)` must return the
 * namespace that exists now.
 */
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { Emdb, tempDirs } from '../helpers/common.js';
import { fixtureWorker } from '../helpers/fixture-worker.js';

interface Outcome {
  ok: boolean;
  value?: string;
  code?: string;
}

interface Held {
  sync: Outcome;
  async: Outcome;
}

/** An attached worker answering one request at a time (the reply's shape depends on the request). */
function namespaceWorker(handle: unknown): { ask(msg: object): Promise<Outcome & Held>; ready: Promise<unknown>; worker: Worker } {
  const w = fixtureWorker<{ result?: Outcome & Held }>('namespace-worker.js', handle);
  return { worker: w.worker, ready: w.ready, ask: (msg) => w.ask(msg).then((m) => m.result ?? (m as Outcome & Held)) };
}

async function outcome(call: () => unknown): Promise<Outcome> {
  try {
    const v = await call();
    return { ok: true, value: v === undefined ? undefined : String(v) };
  } catch (err) {
    return { ok: false, code: (err as { code?: string }).code ?? String(err) };
  }
}

describe('dropping a namespace on one thread', () => {
  const newDir = tempDirs('emdb-ns-drop-thread-');
  const workers: Worker[] = [];
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.terminate()));
  });

  it('closes a handle another thread holds, and namespace(name) there returns the re-created one', async () => {
    const file = path.join(newDir(), 'db.emdb');
    const db = await Emdb.open(file, { readers: 1 });
    try {
      const n = await db.namespace('n');
      await n.insert('k', 'old');
      const w = namespaceWorker(db.handle());
      workers.push(w.worker);
      await w.ready;
      expect(await w.ask({ t: 'open', name: 'n' })).toEqual({ ok: true });
      expect((await w.ask({ t: 'hold-read', name: 'n', key: 'k' })).sync).toEqual({ ok: true, value: 'old' });

      expect(await db.dropNamespace('n')).toBe(true);
      const held = await w.ask({ t: 'hold-read', name: 'n', key: 'k' });
      expect(held.sync).toEqual({ ok: false, code: 'ERR_EMDB_CLOSED' });
      expect(held.async).toEqual({ ok: false, code: 'ERR_EMDB_CLOSED' });
      expect(await w.ask({ t: 'hold-write', name: 'n', key: 'w', value: 'lost?' }), 'an insert on a dropped handle is refused, not acknowledged and discarded').toEqual({
        ok: false,
        code: 'ERR_EMDB_CLOSED',
      });

      const again = await db.namespace('n');
      await again.insert('k', 'new');
      expect(await w.ask({ t: 'fresh-read', name: 'n', key: 'k' }), 'namespace(name) on the worker returns the namespace that exists now').toEqual({ ok: true, value: 'new' });
      expect(await w.ask({ t: 'fresh-write', name: 'n', key: 'w', value: 'kept' })).toEqual({ ok: true });
      expect(again.getSync('w')?.toString(), 'the worker writes into the re-created namespace').toBe('kept');
    } finally {
      await db.close();
    }
    const reopened = await Emdb.open(file, { readers: 1 });
    try {
      const n = await reopened.namespace('n');
      expect(n.getSync('k')?.toString()).toBe('new');
      expect(n.getSync('w')?.toString()).toBe('kept');
    } finally {
      await reopened.close();
    }
  });

  it('closes the main thread handle when a worker drops it', async () => {
    const db = await Emdb.open(path.join(newDir(), 'db.emdb'), { readers: 1 });
    try {
      const held = await db.namespace('n');
      await held.insert('k', 'old');
      const w = namespaceWorker(db.handle());
      workers.push(w.worker);
      await w.ready;
      expect(await w.ask({ t: 'recreate', name: 'n', key: 'm', value: 'from the worker' })).toEqual({ ok: true });

      expect(await outcome(() => held.getSync('k'))).toEqual({ ok: false, code: 'ERR_EMDB_CLOSED' });
      expect(await outcome(() => held.insert('x', 'lost?'))).toEqual({ ok: false, code: 'ERR_EMDB_CLOSED' });
      expect(held.dropped).toBe(true);
      const fresh = await db.namespace('n');
      expect(fresh).not.toBe(held);
      expect(fresh.getSync('m')?.toString()).toBe('from the worker');
      expect(fresh.getSync('k')).toBeUndefined();
      expect(await outcome(() => db.transaction(async (tx) => (await tx.namespace('n')).insert('t', 'in tx')))).toEqual({ ok: true });
      expect(fresh.getSync('t')?.toString(), 'a transaction resolves the namespace that exists now').toBe('in tx');
    } finally {
      await db.close();
    }
  });
});
