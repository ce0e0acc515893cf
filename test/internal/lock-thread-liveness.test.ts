/**
 * How a lock record's holder thread is judged (src/lock/record.ts): a record
 * taken by a worker thread names its OS thread and that thread's start time;
 * it is stale once the thread has ended or its tid belongs to a later thread,
 * while a live thread, the main thread of a live process, and a record without
 * a thread stay live.
 */
import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { judge, newRecord, parseRecord, type LockRecord } from '../../dist/src/lock/record.js';

const HAS_PROC = fs.existsSync('/proc/thread-self');

const snap = (rec: LockRecord) => ({ raw: JSON.stringify(rec), dev: 0, ino: 0, mtimeMs: Date.now() });

/** A record written by a fresh worker thread, and a way to end that thread. */
async function workerRecord(): Promise<{ rec: LockRecord; end: () => Promise<number> }> {
  const code = `const { parentPort } = require('node:worker_threads');
    import(${JSON.stringify(new URL('../../dist/src/lock/record.js', import.meta.url).href)})
      .then((m) => parentPort.postMessage(m.newRecord({ path: '/x' })));
    setInterval(() => {}, 1000);`;
  const worker = new Worker(code, { eval: true });
  const raw = await new Promise<string>((resolve) => worker.once('message', resolve));
  return { rec: parseRecord(raw)!, end: () => worker.terminate() };
}

describe.skipIf(!HAS_PROC)('judging the thread of a lock record', () => {
  it('a worker thread\'s record is live while it runs and stale once it was terminated', async () => {
    const { rec, end } = await workerRecord();
    expect(rec.pid).toBe(process.pid);
    expect(rec.tid).toBeGreaterThan(0);
    expect(rec.tid).not.toBe(process.pid);
    expect(rec.thread).toBeGreaterThan(0);
    expect(judge(snap(rec)).stale).toBe(false);
    await end();
    expect(judge(snap(rec))).toMatchObject({ stale: true, message: expect.stringContaining('thread') });
  });

  it('a tid reused by a later thread (another start time) is stale; the same start time is live', async () => {
    const { rec, end } = await workerRecord();
    try {
      expect(judge(snap({ ...rec, tidStart: rec.tidStart! + 1 })).stale).toBe(true);
      expect(judge(snap(rec)).stale).toBe(false);
    } finally {
      await end();
    }
  });

  it('this (main) thread and a record without a thread stay live', () => {
    const mine = parseRecord(newRecord({}))!;
    expect(mine.tid).toBe(process.pid);
    expect(judge(snap(mine)).stale).toBe(false);
    const { tid: _tid, tidStart: _start, ...withoutThread } = mine;
    expect(judge(snap({ ...withoutThread })).stale).toBe(false);
    // A tid that is no task of this process: gone.
    expect(judge(snap({ ...mine, tid: 2 ** 30, tidStart: 1 })).stale).toBe(true);
  });
});
