/**
 * emdb-js/level beyond abstract-level's suite: what is ours to promise
 * (atomic batches, durability and reopen, the engine underneath, the
 * example on a Level ecosystem module).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EmdbLevel, LEVEL_DATA_FILE } from 'emdb-js/level';
import { Emdb, MAX_KEY_BYTES } from 'emdb-js';
import { tempDirs } from '../helpers/common.js';

const EXAMPLE = path.resolve(import.meta.dirname, '..', '..', 'examples', 'level', 'index.mjs');

describe('emdb-js/level', () => {
  const tmp = tempDirs('emdb-level-');

  it('batch() is one atomic write: an invalid operation writes nothing', async () => {
    const db = new EmdbLevel(path.join(tmp(), 'db'));
    await db.put('before', '1');
    const tooLong = 'k'.repeat(MAX_KEY_BYTES + 10);
    // abstract-level only checks that keys are not null: the engine refuses the long one,
    // after the first operation was already framed into the same batch.
    await expect(
      db.batch([
        { type: 'put', key: 'a', value: 'x' },
        { type: 'del', key: 'before' },
        { type: 'put', key: tooLong, value: 'y' },
      ]),
    ).rejects.toMatchObject({ code: 'ERR_EMDB_KEY_TOO_LARGE' });
    expect(await db.get('a')).toBeUndefined();
    expect(await db.get('before')).toBe('1');
    await db.close();
  });

  it('writes with sync: true survive a reopen, in key order, sublevels included', async () => {
    const dir = path.join(tmp(), 'db');
    const db = new EmdbLevel<string, string>(dir);
    const sub = db.sublevel<string, { n: number }>('s', { valueEncoding: 'json' });
    await db.put('', 'empty key', { sync: true });
    await db.batch(
      ['b', 'a', 'c'].map((key) => ({ type: 'put' as const, key, value: key.toUpperCase() })),
      { sync: true },
    );
    // Unsynced; the del below flushes it with everything before it.
    await sub.put('x', { n: 1 });
    await db.del('c', { sync: true });
    await db.close();

    // The file is a plain emdb-js database with range scans.
    const raw = await Emdb.open(path.join(dir, LEVEL_DATA_FILE), { readers: 1, rangeScans: true });
    expect(await raw.len()).toBe(4);
    await raw.close();

    const again = new EmdbLevel<string, string>(dir, { createIfMissing: false });
    expect(await again.keys().all()).toEqual(['', '!s!x', 'a', 'b']);
    expect(await again.sublevel<string, { n: number }>('s', { valueEncoding: 'json' }).get('x')).toEqual({ n: 1 });
    expect(again.getSync('b')).toBe('B');
    expect((await again.engine.stats()).records).toBeGreaterThan(0);
    await again.close();
  });

  it('an iterator keeps reading the snapshot of its creation while writes go on', async () => {
    const db = new EmdbLevel(path.join(tmp(), 'db'));
    await db.batch(Array.from({ length: 500 }, (_, i) => ({ type: 'put' as const, key: `k${String(i).padStart(3, '0')}`, value: 'old' })));
    const it = db.iterator();
    const first = await it.nextv(10);
    await db.batch(Array.from({ length: 500 }, (_, i) => ({ type: 'put' as const, key: `k${String(i).padStart(3, '0')}`, value: 'new' })));
    await db.put('k000a', 'inserted');
    await db.clear({ gte: 'k400' });
    const rest = await it.all();
    const all = [...first, ...rest];
    expect(all.length).toBe(500);
    expect(all.every(([, v]) => v === 'old')).toBe(true);
    expect((await db.values({ lt: 'k001' }).all()).sort()).toEqual(['inserted', 'new']);
    expect(await db.keys({ gte: 'k400' }).all()).toEqual([]);
    await db.close();
  });

  it('explicit snapshots read as of their creation, and fail past rangeSnapshotLimit', async () => {
    const db = new EmdbLevel(path.join(tmp(), 'db'), { rangeSnapshotLimit: { maxAgeMs: 300 } });
    await db.put('a', 'old');
    const snap = db.snapshot();
    await db.put('a', 'new');
    await db.put('b', 'new');
    expect(await db.get('a', { snapshot: snap })).toBe('old');
    expect(await db.getMany(['a', 'b'], { snapshot: snap })).toEqual(['old', undefined]);
    expect(await db.has('b', { snapshot: snap })).toBe(false);
    await new Promise((r) => setTimeout(r, 400));
    await expect(db.get('a', { snapshot: snap })).rejects.toMatchObject({ code: 'ERR_EMDB_SNAPSHOT_TOO_OLD' });
    await expect(db.iterator({ snapshot: snap }).all()).rejects.toMatchObject({ code: 'ERR_EMDB_SNAPSHOT_TOO_OLD' });
    expect(await db.get('a')).toBe('new');
    await snap.close();
    await db.close();
  });

  it('options of the engine pass through; Level options stay Level', async () => {
    const db = new EmdbLevel<string, unknown>(path.join(tmp(), 'db'), { readers: 2, flushPolicy: { kind: 'writeThrough' }, valueEncoding: 'json' });
    await db.put('k', { a: 1 });
    expect(await db.get('k')).toEqual({ a: 1 });
    expect((await db.engine.stats()).readers).toBe(2);
    await db.close();
    // A bad value is refused by the constructor, before anything is queued or created (level-bad-values-create-nothing).
    expect(() => new EmdbLevel(path.join(tmp(), 'db2'), { readers: 0 })).toThrow(expect.objectContaining({ code: 'ERR_EMDB_INVALID_CONFIG' }));
  });

  it('examples/level runs with level-read-stream', async () => {
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, [EXAMPLE], { stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (text += d));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`example exited with ${code}`))));
    });
    const lines = out.trim().split('\n');
    expect(lines[0]).toMatch(/^2026-01-01T14:55:00.000Z \d+\.\d °C$/);
    expect(lines[11]).toMatch(/^2026-01-01T14:00:00.000Z /);
    expect(lines[12]).toBe('12 readings between 14:00 and 15:00; 288 stored');
  });
});
