import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import type { Stats } from 'emdb-js';
import { Emdb } from 'emdb-js';
import { FIXTURES, tempDirs } from '../helpers/common.js';

const DATA_START = 12288; // docs/FORMAT.md

function statsFromWorker(handle: unknown, keys: string[]): Promise<Stats> {
  const worker = new Worker(path.join(FIXTURES, 'stats-worker.js'), { workerData: { handle, keys } });
  return new Promise<Stats>((resolve, reject) => {
    worker.once('message', (m: { t: string; stats?: Stats; message?: string }) => (m.t === 'stats' ? resolve(m.stats!) : reject(new Error(m.message))));
    worker.once('error', reject);
  }).finally(() => void worker.terminate());
}

describe('stats()', () => {
  const newDir = tempDirs();

  it('describes a fresh database', async () => {
    const before = Date.now();
    const db = await Emdb.open(path.join(newDir(), 's.emdb'), { readers: 2 });
    const s = await db.stats();
    expect(s).toMatchObject({ records: 0, liveBytes: 0, deadBytes: 0, fileBytes: DATA_START, namespaces: 0, indexLoad: 0, readers: 2, writes: 0, reads: 0, syncs: 0, syncMs: 0, lastCompactionAt: 0 });
    expect(s.indexCapacity).toBeGreaterThanOrEqual(1024);
    expect(s.durableLsn).toBe(DATA_START);
    expect(s.lastCheckpointAt).toBeGreaterThanOrEqual(before - 1000);
    await db.close();
  });

  it('counts records, bytes, namespaces, index load, writes and syncs as the data changes', async () => {
    const db = await Emdb.open(path.join(newDir(), 's.emdb'), { readers: 1 });
    for (let i = 0; i < 100; i++) await db.insert(`k${i}`, 'x'.repeat(50));
    await db.flush();
    let s = await db.stats();
    expect(s.records).toBe(100);
    expect(s.writes).toBe(100);
    expect(s.deadBytes).toBe(0);
    expect(s.liveBytes + s.deadBytes).toBe(s.fileBytes - DATA_START);
    expect(s.durableLsn).toBe(s.fileBytes);
    expect(s.indexLoad).toBeCloseTo(100 / s.indexCapacity, 10);
    const syncs = s.syncs;
    const syncMs = s.syncMs;
    // A real fdatasync takes measurable time: the first flush's is in syncMs.
    expect(syncMs).toBeGreaterThan(0);

    for (let i = 0; i < 10; i++) await db.insert(`k${i}`, 'y');
    for (let i = 90; i < 100; i++) await db.remove(`k${i}`);
    await (await db.namespace('a')).insert('n', 'v');
    await db.namespace('b');
    await db.flush();
    await db.flush(); // nothing new: no second sync
    s = await db.stats();
    expect(s.records).toBe(91);
    expect(s.namespaces).toBe(2);
    expect(s.writes).toBe(100 + 10 + 10 + 1 + 2);
    expect(s.deadBytes).toBeGreaterThan(0);
    expect(s.liveBytes + s.deadBytes).toBe(s.fileBytes - DATA_START);
    expect(s.syncs).toBe(syncs + 1);
    expect(s.syncMs).toBeGreaterThan(syncMs);
    // Tombstones stay in the index until a rebuild: the load counts them.
    expect(s.indexLoad).toBeGreaterThan(91 / s.indexCapacity);
    await db.close();
  });

  it('counts key lookups from this thread, the reader pool and attached threads', async () => {
    const db = await Emdb.open(path.join(newDir(), 's.emdb'), { readers: 2 });
    await db.insertMany([['a', '1'], ['b', '2'], ['c', '3']]);
    for (const k of ['a', 'b', 'nope']) db.getSync(k);
    await db.get('a');
    await db.getMany(['a', 'b', 'c', 'd']);
    await db.contains('c');
    expect((await db.stats()).reads).toBe(3 + 1 + 4 + 1);
    // Many lookups in one synchronous run are counted too (published in batches).
    for (let i = 0; i < 10_000; i++) db.getSync('a');
    expect((await db.stats()).reads).toBe(10_009);

    const seen = await statsFromWorker(db.handle(), ['a', 'b']);
    expect(seen.readers).toBe(2);
    expect(seen.reads).toBe(10_009 + 6);
    expect((await db.stats()).reads).toBe(10_015);
    await db.close();
  });

  it('records the last checkpoint and the last compaction', async () => {
    const db = await Emdb.open(path.join(newDir(), 's.emdb'), { readers: 1 });
    for (let i = 0; i < 50; i++) await db.insert(`k${i}`, 'v');
    for (let i = 0; i < 25; i++) await db.remove(`k${i}`);
    const created = (await db.stats()).lastCheckpointAt;
    await new Promise((r) => setTimeout(r, 5));
    const t0 = Date.now();
    await db.checkpoint();
    const afterCheckpoint = await db.stats();
    expect(afterCheckpoint.lastCheckpointAt).toBeGreaterThanOrEqual(t0);
    expect(afterCheckpoint.lastCheckpointAt).toBeGreaterThan(created);
    expect(afterCheckpoint.lastCompactionAt).toBe(0);
    const t1 = Date.now();
    await db.compact();
    const s = await db.stats();
    expect(s.lastCompactionAt).toBeGreaterThanOrEqual(t1);
    expect(s.lastCompactionAt).toBeLessThanOrEqual(Date.now());
    expect(s.deadBytes).toBe(0);
    expect(s.records).toBe(25);
    await db.close();
  });
});
