/**
 * emdb-js/level: an open refused by abstract-level's flags, `createIfMissing:
 * false` where there is no database or `errorIfExists: true` where there is
 * one, fails with LEVEL_DATABASE_NOT_OPEN whose cause is ERR_EMDB_INVALID_CONFIG
 * (the README's error table lists both cases under that code), and changes nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EmdbLevel } from 'emdb-js/level';
import { tempDirs } from '../helpers/common.js';

describe('emdb-js/level: createIfMissing and errorIfExists', () => {
  const tmp = tempDirs('emdb-level-');

  it('createIfMissing: false on a missing location is refused and creates nothing', async () => {
    const location = path.join(tmp(), 'db');
    await expect(new EmdbLevel(location, { createIfMissing: false }).open()).rejects.toMatchObject({
      code: 'LEVEL_DATABASE_NOT_OPEN',
      cause: { code: 'ERR_EMDB_INVALID_CONFIG', message: expect.stringContaining('createIfMissing') as unknown },
    });
    expect(fs.existsSync(location)).toBe(false);
  });

  it('errorIfExists: true on an existing database is refused and leaves it as it was', async () => {
    const location = path.join(tmp(), 'db');
    const made = new EmdbLevel(location);
    await made.put('k', 'v');
    await made.close();
    const db = new EmdbLevel(location, { passive: true });
    await expect(db.open({ errorIfExists: true })).rejects.toMatchObject({
      code: 'LEVEL_DATABASE_NOT_OPEN',
      cause: { code: 'ERR_EMDB_INVALID_CONFIG', message: expect.stringContaining('errorIfExists') as unknown },
    });
    await db.open();
    expect(await db.get('k')).toBe('v');
    await db.close();
  });
});
