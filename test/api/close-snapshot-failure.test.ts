/**
 * close() when the index snapshot cannot be written (a full disk, here a
 * directory standing where the snapshot's temp file goes). The snapshot only
 * speeds up the next open, so close() must resolve (every acknowledged write is
 * durable, the file and lock released) and say what happened as a process
 * warning. It used to reject with ERR_EMDB_IO although the handle was closed
 * anyway, and a second close() rejected again with the same stale error.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, tempDirs } from '../helpers/common.js';

describe('close() when the index snapshot cannot be written', () => {
  const newDir = tempDirs('emdb-close-snap-');

  it('resolves, warns once with EMDB_INDEX_SNAPSHOT_FAILED, and the data reopens whole', async () => {
    const file = path.join(newDir(), 'db.emdb');
    const db = await Emdb.open(file, { readers: 1 });
    for (let i = 0; i < 500; i++) db.insert(`k${i}`, `v${i}`);
    await db.flush();
    fs.mkdirSync(`${file}.index.tmp`);

    const warnings: Error[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w);
    };
    process.on('warning', onWarning);
    try {
      await expect(db.close()).resolves.toBeUndefined();
      await expect(db.close(), 'a second close is still a no-op').resolves.toBeUndefined();
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.map((w) => (w as Error & { code?: string }).code)).toEqual(['EMDB_INDEX_SNAPSHOT_FAILED']);
    expect(warnings[0]!.message).toContain('index snapshot');
    await expect(db.insert('after', 'close'), 'the handle is closed').rejects.toMatchObject({ code: 'ERR_EMDB_CLOSED' });

    fs.rmdirSync(`${file}.index.tmp`);
    const again = await Emdb.open(file, { readers: 1 });
    try {
      expect(await again.len()).toBe(500);
      expect(again.getSync('k499')?.toString()).toBe('v499');
    } finally {
      await again.close();
    }
  });

  it('checkpoint() still rejects with ERR_EMDB_IO, and the database stays writable', async () => {
    const file = path.join(newDir(), 'db.emdb');
    const db = await Emdb.open(file, { readers: 1 });
    try {
      await db.insert('a', '1');
      fs.mkdirSync(`${file}.index.tmp`);
      await expect(db.checkpoint()).rejects.toMatchObject({ code: 'ERR_EMDB_IO' });
      await db.insert('b', '2');
      expect((await db.stats()).indexSnapshot.error).toContain('index snapshot');
      fs.rmdirSync(`${file}.index.tmp`);
    } finally {
      await db.close();
    }
  });
});
