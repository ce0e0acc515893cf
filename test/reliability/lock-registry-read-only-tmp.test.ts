/**
 * With no writable temp directory (Kubernetes `readOnlyRootFilesystem` without
 * an emptyDir on /tmp, TMPDIR unset) the per-user lock registry cannot be
 * created. Emdb.open failed with ERR_EMDB_IO (EROFS) for that alone; it now
 * opens without the registry (hard links to the file are not detected), warns
 * once with code EMDB_LOCK_REGISTRY_UNAVAILABLE, and `<path>.lock` still
 * refuses a second opener. Needs root for a mount namespace with a read-only
 * /tmp; skipped otherwise.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { rmrf } from '../helpers/common.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const CAN_MOUNT = process.platform === 'linux' && fs.existsSync('/var/tmp') && spawnSync('unshare', ['--mount', 'sh', '-c', 'mount -t tmpfs -o ro tmpfs /tmp']).status === 0;
const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach(rmrf));

it.skipIf(!CAN_MOUNT)('Emdb.open works under a read-only /tmp, and the path lock still holds', () => {
  const dir = fs.mkdtempSync('/var/tmp/emdb-rotmp-');
  dirs.push(dir);
  const db = path.join(dir, 'db.emdb');
  // The checkout may live under /tmp (a CI clone), which the read-only mount hides: it is bound here first.
  const root = path.join(dir, 'root');
  fs.mkdirSync(root);
  const INDEX = path.join(root, 'dist', 'src', 'index.js');
  const script = `
    process.on('warning', (w) => console.log('WARNING', w.code));
    const { Emdb } = await import(${JSON.stringify(INDEX)});
    const d = await Emdb.open(${JSON.stringify(db)}, { readers: 1 });
    await d.insert('k', 'v');
    const second = await Emdb.open(${JSON.stringify(db)}).then(() => 'opened twice', (e) => e.code);
    console.log('SECOND', second);
    await d.close();
    console.log('OK');`;
  const env = { ...process.env };
  delete env.TMPDIR;
  const r = spawnSync('unshare', ['--mount', 'sh', '-c', `mount --bind "${ROOT}" "${root}" && mount -t tmpfs -o ro tmpfs /tmp && exec "${process.execPath}" --input-type=module -e "$0"`, script], { encoding: 'utf8', env });
  expect(r.stdout).not.toMatch(/ERR_EMDB_IO/);
  expect(r.stdout).toMatch(/WARNING EMDB_LOCK_REGISTRY_UNAVAILABLE/);
  expect(r.stdout).toMatch(/SECOND ERR_EMDB_LOCKED/);
  expect(r.stdout, r.stderr).toMatch(/^OK$/m);
});
