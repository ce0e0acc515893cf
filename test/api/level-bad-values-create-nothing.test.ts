/**
 * EmdbLevel refuses a bad option value (not only a bad name) before anything
 * touches the disk, as Emdb.open does. `readers: 0`, `cacheSize: -1` or a
 * misspelled field inside `flushPolicy` used to fail the open only after the
 * location directory had been created. The constructor now throws them, as it
 * throws a misspelled option name; given to open(), they fail the open.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EmdbLevel } from '../../dist/src/level/index.js';
import { tempDirs } from '../helpers/common.js';

describe('EmdbLevel option values', () => {
  const newDir = tempDirs('emdb-level-values-');
  const bad: Record<string, unknown>[] = [{ readers: 0 }, { cacheSize: -1 }, { flushPolicy: { kind: 'group', maxWaitMS: 5 } }, { rangeSnapshotLimit: { maxAgeMs: -1 } }];

  it.each(bad)('the constructor refuses %j and creates nothing', (options) => {
    const location = path.join(newDir(), 'db');
    expect(() => new EmdbLevel(location, options as never)).toThrow(expect.objectContaining({ code: 'ERR_EMDB_INVALID_CONFIG' }));
    expect(fs.existsSync(location)).toBe(false);
  });

  it.each(bad)('open(%j) fails with the code as cause and creates nothing', async (options) => {
    const location = path.join(newDir(), 'db');
    const db = new EmdbLevel(location, { passive: false });
    await expect(db.open(options as never)).rejects.toMatchObject({ code: 'LEVEL_DATABASE_NOT_OPEN', cause: { code: 'ERR_EMDB_INVALID_CONFIG' } });
    expect(fs.existsSync(location)).toBe(false);
  });
});
