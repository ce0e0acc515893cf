/**
 * A sync that leaves 16 MiB or more durable past the tail hint (a bulk load
 * and its flush) moves the tail hint at once, not at the writer's next
 * checkpoint tick: a copy of the file taken right after the flush (what a
 * crash leaves, before any index snapshot) reopens with the whole load
 * checked by the header slot's prefix CRC in one pass (recovery.prefixVerified)
 * and every record present. Small flushes keep waiting for the timer
 * (auto-checkpoint.test.ts): one slot write per 16 MiB, never per flush.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, tempDirs } from '../helpers/common.js';

const RECORDS = 80_000;
const VALUE = Buffer.alloc(240, 0x5a);

function entries(): [string, Buffer][] {
  return Array.from({ length: RECORDS }, (_, i) => [`bulk:${i}`, VALUE] as [string, Buffer]);
}

describe('automatic checkpoint after a large sync', () => {
  const newDir = tempDirs('emdb-auto-ckpt-large-');

  it('a bulk load and its flush move the tail hint before the next request is answered; a crash copy reopens prefix-verified', async () => {
    const dir = newDir();
    const file = path.join(dir, 'load.emdb');
    const db = await Emdb.open(file, { readers: 1 });
    try {
      const start = await db.stats();
      await db.insertMany(entries());
      await db.flush();
      // The next request is served after the checkpoint the sync made due.
      const after = await db.stats();
      expect(after.durableLsn - start.tailHint).toBeGreaterThanOrEqual(16 * 1024 * 1024);
      expect(after.tailHint).toBe(after.durableLsn);
      expect(after.autoCheckpoints).toBeGreaterThanOrEqual(1);
      // What a kill -9 now leaves: the log as it is, no index snapshot written since the load.
      fs.mkdirSync(path.join(dir, 'crash'));
      fs.copyFileSync(file, path.join(dir, 'crash', 'load.emdb'));
    } finally {
      await db.close();
    }
    const copy = await Emdb.open(path.join(dir, 'crash', 'load.emdb'), { readers: 1 });
    try {
      const { recovery, records } = await copy.stats();
      expect(recovery.mode).toBe('full');
      expect(recovery.prefixVerified).toBe(true);
      expect(recovery.truncatedBytes).toBe(0);
      expect(records).toBe(RECORDS);
      for (const i of [0, 1, RECORDS / 2, RECORDS - 1]) expect(copy.getSync(`bulk:${i}`)).toEqual(VALUE);
    } finally {
      await copy.close();
    }
  });

  it('small flushes do not write a header slot each', async () => {
    const db = await Emdb.open(path.join(newDir(), 'small.emdb'), { readers: 1 });
    try {
      const start = await db.stats();
      for (let i = 0; i < 50; i++) {
        await db.insert(`k${i}`, VALUE);
        await db.flush();
      }
      const after = await db.stats();
      // At most the timer's (one per second, or per 16 MiB): never one per flush.
      expect(after.autoCheckpoints - start.autoCheckpoints).toBeLessThan(5);
    } finally {
      await db.close();
    }
  });
});
