/**
 * Emdb.lockHolder / Emdb.breakLock name one database: a missing path (an unset
 * environment variable, `Emdb.breakLock(process.env.DB_PATH)`) is refused with
 * ERR_EMDB_INVALID_CONFIG, as Emdb.open(undefined) is. They used to act on the
 * default database instead, and breakLock reported success.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, tempDirs } from '../helpers/common.js';

describe('lockHolder / breakLock without a path', () => {
  const newDir = tempDirs('emdb-lock-admin-');

  it('are refused, and do not touch the default database', async () => {
    const home = newDir();
    const saved = process.env.XDG_DATA_HOME;
    process.env.XDG_DATA_HOME = home;
    try {
      const db = await Emdb.open(path.join(home, 'unrelated.emdb'), { readers: 1 });
      try {
        for (const bad of [undefined, null, 42]) {
          await expect(Emdb.lockHolder(bad as unknown as string)).rejects.toMatchObject({ code: 'ERR_EMDB_INVALID_CONFIG' });
          await expect(Emdb.breakLock(bad as unknown as string)).rejects.toMatchObject({ code: 'ERR_EMDB_INVALID_CONFIG' });
        }
        expect(await Emdb.lockHolder(db.path!)).toMatchObject({ pid: process.pid });
      } finally {
        await db.close();
      }
    } finally {
      if (saved === undefined) delete process.env.XDG_DATA_HOME;
      else process.env.XDG_DATA_HOME = saved;
    }
  });
});
