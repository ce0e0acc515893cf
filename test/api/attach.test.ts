import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Emdb } from 'emdb-js';
import { FIXTURES, rejectsWithCode, tempDirs } from '../helpers/common.js';

type Msg = Record<string, unknown> & { t: string };

function ask(worker: Worker, msg: Msg, expect: string): Promise<Msg> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: Msg): void => {
      if (m.t === expect || m.t === 'error') {
        worker.off('message', onMessage);
        if (m.t === 'error') reject(new Error(`worker: ${String(m.message)}`));
        else resolve(m);
      }
    };
    worker.on('message', onMessage);
    if (msg.t !== 'none') worker.postMessage(msg);
  });
}

describe('handles for user worker threads (Emdb.attach)', () => {
  const newDir = tempDirs();

  it('an attached worker reads the main thread writes, writes its own, and fails with CLOSED after close', async () => {
    const dir = newDir();
    const db = await Emdb.open(path.join(dir, 'a.emdb'), { readers: 1 });
    await db.insert('from-main', 'hello');
    await db.insert('to-remove', 'x');
    const handle = db.handle();
    const worker = new Worker(path.join(FIXTURES, 'attached-worker.js'), { workerData: handle });
    await ask(worker, { t: 'none' }, 'attached');

    // Written after the worker attached: it must still see it (shared index, no copy).
    await db.insert('later', 'after-attach');
    expect(await ask(worker, { t: 'read', key: 'from-main' }, 'read')).toMatchObject({ viaGet: 'hello', viaSync: 'hello' });
    expect(await ask(worker, { t: 'read', key: 'later' }, 'read')).toMatchObject({ viaGet: 'after-attach', viaSync: 'after-attach' });
    expect(await ask(worker, { t: 'write', key: 'w1' }, 'written')).toMatchObject({ removed: true, len: 3 });
    expect(db.getSync('w1')?.toString()).toBe('from-worker:w1');
    expect(await db.get('to-remove')).toBeUndefined();

    await db.close();
    expect(await ask(worker, { t: 'after-close' }, 'after-close')).toMatchObject({ code: 'ERR_EMDB_CLOSED', syncCode: 'ERR_EMDB_CLOSED' });
    await worker.terminate();
  });

  it('closing an attached handle does not close the database', async () => {
    const db = await Emdb.openInMemory({ readers: 1 });
    await db.insert('k', 'v');
    const worker = new Worker(path.join(FIXTURES, 'attached-worker.js'), { workerData: db.handle() });
    await ask(worker, { t: 'none' }, 'attached');
    await ask(worker, { t: 'detach' }, 'detached');
    await db.insert('k2', 'v2');
    expect(db.getSync('k')?.toString()).toBe('v');
    expect(await db.len()).toBe(2);
    await worker.terminate();
    await db.close();
  });

  it('rejects something that is not a handle', async () => {
    await rejectsWithCode(Emdb.attach({} as never), 'ERR_EMDB_INVALID_CONFIG');
  });
});
