/**
 * A database is one file. Found by outside testing: `Emdb.open('…/dir/')` and
 * `backupTo('…/backups/')` silently dropped the trailing slash and made a
 * FILE named `dir` / `backups`. A path written as a directory is now refused
 * with ERR_EMDB_INVALID_CONFIG, and nothing is created.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, rejectsWithCode, tempDirs } from '../helpers/common.js';

describe('paths written as a directory', () => {
  const newDir = tempDirs('emdb-dir-path-');

  it('Emdb.open refuses them and creates nothing', async () => {
    const dir = newDir();
    for (const p of [`${dir}/data/`, `${dir}/data/.`, `${dir}/..`]) {
      await rejectsWithCode(() => Emdb.open(p), 'ERR_EMDB_INVALID_CONFIG');
    }
    await rejectsWithCode(() => Emdb.open({ path: `${dir}/data/` }), 'ERR_EMDB_INVALID_CONFIG');
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('backupTo refuses them and creates nothing; a file path inside the directory works', async () => {
    const dir = newDir();
    const db = await Emdb.open(path.join(dir, 'a.emdb'), { readers: 1 });
    try {
      await db.insert('k', 'v');
      fs.mkdirSync(path.join(dir, 'backups'));
      await rejectsWithCode(() => db.backupTo(`${dir}/backups/`), 'ERR_EMDB_INVALID_CONFIG');
      await rejectsWithCode(() => db.backupTo(`${dir}/new/`), 'ERR_EMDB_INVALID_CONFIG');
      expect(fs.readdirSync(path.join(dir, 'backups'))).toEqual([]);
      expect(fs.existsSync(path.join(dir, 'new'))).toBe(false);
      await db.backupTo(path.join(dir, 'backups', 'a.emdb'));
      expect(fs.existsSync(path.join(dir, 'backups', 'a.emdb'))).toBe(true);
    } finally {
      await db.close();
    }
  });
});
