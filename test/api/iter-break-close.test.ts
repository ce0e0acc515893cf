/**
 * Leaving iter() early (break, or a throw in the loop body) and closing the
 * database right away must not leave the abandoned read-ahead chunk to reject
 * unobserved when the reader pool shuts down (it crashed `emdb-js dump | head`).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { Emdb } from 'emdb-js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emdb-iter-close-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

it('break out of iter() then close: no unhandled rejection', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (err: unknown): void => void unhandled.push(err);
  process.on('unhandledRejection', onUnhandled);
  try {
    for (let round = 0; round < 3; round++) {
      const file = path.join(dir, `db${round}.emdb`);
      const w = await Emdb.open<Buffer>(file, { readers: 1 });
      // Enough keys for several scan chunks, so a read-ahead is in flight when we leave.
      await w.insertMany((function* () {
        for (let i = 0; i < 60_000; i++) yield [`key:${i}`, Buffer.alloc(64, 1)] as [string, Buffer];
      })());
      await w.close();
      const db = await Emdb.open<Buffer>(file, { readers: 1 });
      let seen = 0;
      try {
        for await (const _entry of db.iter()) {
          if (++seen === 10) throw new Error('stop');
        }
      } catch (err) {
        expect((err as Error).message).toBe('stop');
      }
      await db.close();
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
  expect(unhandled).toEqual([]);
});
