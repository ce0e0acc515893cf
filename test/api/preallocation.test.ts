/**
 * Preallocation seen from outside (docs/DESIGN.md, "Preallocation"): while the
 * database is open its file may be longer than the log (zeros written ahead of
 * small appends, so a durable append does not change the file size); stats()
 * reports the log, a backup copies only the log, and close() trims the file
 * to the log end, so tools and users that read the file size see the log.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, tempDirs } from '../helpers/common.js';

describe('preallocation', () => {
  const newDir = tempDirs('emdb-prealloc-');

  it('durable single writes land in allocated space: the file size changes once per growth step, not per write', async () => {
    const file = path.join(newDir(), 'db.emdb');
    const db = await Emdb.open(file, { readers: 1, flushPolicy: { kind: 'onEachFlush' } });
    try {
      const sizes = new Set<number>();
      for (let i = 0; i < 200; i++) {
        await db.insert(`k${i}`, 'v'.repeat(150));
        await db.flush();
        sizes.add(fs.statSync(file).size);
      }
      // 200 × ~190 bytes is under one 64 KiB step: one size after the first growth.
      expect(sizes.size).toBe(1);
      const stats = await db.stats();
      expect([...sizes][0]!).toBeGreaterThan(stats.fileBytes);
    } finally {
      await db.close();
    }
  });

  it('stats() and backupTo report and copy the log, not the zeros; close trims; the reopen cuts nothing', async () => {
    const dir = newDir();
    const file = path.join(dir, 'db.emdb');
    const target = path.join(dir, 'copy.emdb');
    const db = await Emdb.open(file, { readers: 1, flushPolicy: { kind: 'onEachFlush' } });
    let logBytes: number;
    try {
      for (let i = 0; i < 20; i++) await db.insert(`k${i}`, `value ${i}`);
      await db.flush();
      logBytes = (await db.stats()).fileBytes;
      expect(fs.statSync(file).size, 'zeros past the log while open').toBeGreaterThan(logBytes);
      await db.backupTo(target);
      expect(fs.statSync(target).size, 'the backup holds the log only').toBe(logBytes);
    } finally {
      await db.close();
    }
    expect(fs.statSync(file).size, 'close trims to the log end').toBe(logBytes);
    for (const f of [file, target]) {
      const again = await Emdb.open(f, { readers: 1 });
      try {
        expect(await again.get('k7')).toEqual(Buffer.from('value 7'));
        expect((await again.stats()).recovery).toMatchObject({ truncatedBytes: 0, residueAt: null });
      } finally {
        await again.close();
      }
    }
  });
});
