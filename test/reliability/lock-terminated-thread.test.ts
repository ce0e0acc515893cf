/**
 * A worker thread that opened a database and was terminated does not keep it
 * locked (issue 12, defect 5): the lock records the thread that took it, and a
 * thread that has ended is provably gone although its process (ours) lives.
 * The same process reopens the database without manual action and finds every
 * write the thread had acknowledged; breakLock removes such a lock, and still
 * refuses the lock of a live worker thread.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { Emdb, ErrorCode, FIXTURES, rejectsWithCode, tempDirs } from '../helpers/common.js';

const HAS_PROC = fs.existsSync('/proc/thread-self');
const KEYS = 200;
const newDir = tempDirs('emdb-thread-lock-');
const workers: Worker[] = [];

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.terminate()));
});

async function openInThread(file: string): Promise<Worker> {
  const worker = new Worker(path.join(FIXTURES, 'thread-opener.js'), { workerData: { path: file, keys: KEYS } });
  workers.push(worker);
  const result = await new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  expect(result).toEqual({ ok: true });
  return worker;
}

async function expectAllKeys(db: Emdb<Buffer>): Promise<void> {
  expect(await db.len()).toBe(KEYS);
  for (let i = 0; i < KEYS; i++) expect(db.getSync(`k${i}`)?.toString()).toBe(`v${i}`);
}

describe.skipIf(!HAS_PROC)('a database opened by a worker thread that was terminated', () => {
  it('is reopened by the same process with every acknowledged write', async () => {
    const file = path.join(newDir(), 'db.emdb');
    const worker = await openInThread(file);
    // While the thread lives, its lock holds for this thread too.
    await rejectsWithCode(Emdb.open(file, { readers: 1 }), ErrorCode.LOCKED);
    await worker.terminate();
    expect((await Emdb.lockHolder(file))?.pid, 'the terminated thread left its lock').toBe(process.pid);
    const db = await Emdb.open(file, { readers: 1 });
    try {
      await expectAllKeys(db);
      await db.insert('reopened', 'yes');
    } finally {
      await db.close();
    }
    expect(fs.existsSync(`${file}.lock`)).toBe(false);
  });

  it('breakLock removes its lock; a live thread\'s lock is refused', async () => {
    const file = path.join(newDir(), 'db.emdb');
    const worker = await openInThread(file);
    await rejectsWithCode(Emdb.breakLock(file), ErrorCode.LOCKED);
    expect(fs.existsSync(`${file}.lock`)).toBe(true);
    await worker.terminate();
    await Emdb.breakLock(file);
    expect(await Emdb.lockHolder(file)).toBeUndefined();
    const db = await Emdb.open(file, { readers: 1 });
    try {
      await expectAllKeys(db);
    } finally {
      await db.close();
    }
  });

  it('another worker thread takes it over after the first was terminated', async () => {
    const file = path.join(newDir(), 'db.emdb');
    const first = await openInThread(file);
    await first.terminate();
    const second = await openInThread(file);
    await rejectsWithCode(Emdb.open(file, { readers: 1 }), ErrorCode.LOCKED);
    second.postMessage('close');
    await new Promise((resolve) => second.once('message', resolve));
    const db = await Emdb.open(file, { readers: 1 });
    try {
      await expectAllKeys(db);
    } finally {
      await db.close();
    }
  });
});
