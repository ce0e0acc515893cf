/**
 * Files that replace or accompany a database take its permission bits, and,
 * when running as root, its owner: the compacted file renamed over it, the
 * index snapshot (`<path>.index`), the file an encryption rewrite renames over
 * it (and its `.encbak`), and a `backupTo` copy. Before the fix they were
 * created 0644 (under the usual umask) and owned by whoever ran the command:
 * a chmod 600 database became world-readable after `compact()`, and
 * `emdb-js compact` run as root left a root-owned file the service user could
 * no longer open (EACCES).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, tempDirs } from '../helpers/common.js';
import { CLI } from './cli-helpers.js';

const newDir = tempDirs('emdb-mode-');
const IS_ROOT = process.platform !== 'win32' && process.geteuid!() === 0;
const mode = (f: string) => (fs.statSync(f).mode & 0o777).toString(8);
const owner = (f: string) => `${fs.statSync(f).uid}:${fs.statSync(f).gid}`;

async function filled(dir: string): Promise<string> {
  const file = path.join(dir, 'secrets.emdb');
  const db = await Emdb.open(file, { readers: 1 });
  for (let i = 0; i < 200; i++) await db.insert(`token:${i % 50}`, `secret-${i}`);
  await db.close();
  return file;
}

describe.skipIf(process.platform === 'win32')('files written for a database keep its mode', () => {
  it('compact, close, checkpoint and backupTo keep a chmod 600', async () => {
    const dir = newDir();
    const file = await filled(dir);
    fs.chmodSync(file, 0o600);
    fs.chmodSync(`${file}.index`, 0o600);
    const db = await Emdb.open(file, { readers: 1 });
    for (let i = 0; i < 50; i++) await db.insert(`token:${i}`, `rotated-${i}`);
    await db.compact({ force: true });
    expect(mode(file)).toBe('600');
    await db.checkpoint();
    expect(mode(`${file}.index`)).toBe('600');
    await db.backupTo(path.join(dir, 'backup.emdb'));
    expect(mode(path.join(dir, 'backup.emdb'))).toBe('600');
    await db.close();
    expect(mode(file)).toBe('600');
    expect(mode(`${file}.index`)).toBe('600');
  });

  it('an encryption rewrite keeps it, and so does its .encbak', async () => {
    const dir = newDir();
    const file = await filled(dir);
    fs.chmodSync(file, 0o640);
    await Emdb.enableEncryption(file, { key: randomBytes(32) }, { keepBackup: true });
    expect(mode(file)).toBe('640');
    expect(mode(`${file}.encbak`)).toBe('640');
  });

  it.skipIf(!IS_ROOT)('as root, the CLI\'s compact and stats leave the service user\'s owner', async () => {
    const dir = newDir();
    const file = await filled(dir);
    fs.chownSync(dir, 1000, 1000);
    for (const f of [file, `${file}.index`]) fs.chownSync(f, 1000, 1000);
    fs.chmodSync(file, 0o600);
    for (const args of [['stats', file, '-q'], ['compact', file, '--force', '-q'], ['backup', file, path.join(dir, 'copy.emdb'), '-q']]) {
      const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
    }
    expect(owner(file)).toBe('1000:1000');
    expect(mode(file)).toBe('600');
    expect(owner(`${file}.index`)).toBe('1000:1000');
    expect(owner(path.join(dir, 'copy.emdb'))).toBe('1000:1000');
    // The service user opens it again.
    const script = `import(${JSON.stringify(path.resolve(import.meta.dirname, '..', '..', 'dist', 'src', 'index.js'))}).then(({ Emdb }) => Emdb.open(${JSON.stringify(file)}).then((d) => d.close()).then(() => console.log('ok'), (e) => console.log(e.code, e.cause?.code)))`;
    const r = spawnSync('setpriv', ['--reuid=1000', '--regid=1000', '--clear-groups', 'env', 'HOME=/tmp', process.execPath, '-e', script], { encoding: 'utf8' });
    expect(r.stdout.trim(), r.stderr).toBe('ok');
  });
});
