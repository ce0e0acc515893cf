/**
 * A lock held in another PID namespace on the same hostname (two containers
 * of one pod, a --network=host container beside a host process) is not broken:
 * the holder's pid means nothing here, so the open is refused with
 * ERR_EMDB_LOCKED naming the other namespace, lockHolder says the holder
 * cannot be checked, and breakLock refuses it without `force`. Before the fix
 * the opener found "its" pid alive with another start time (pid 1 of its own
 * namespace, or the host's init) and broke the live holder's lock: two writers
 * on one file. Needs root and unshare(1); skipped otherwise.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Emdb, ErrorCode } from 'emdb-js';
import { FIXTURES, rejectsWithCode, rmrf, tmpDir } from '../helpers/common.js';

const HOLDER = path.join(FIXTURES, 'holder-child.js');
const INDEX = path.resolve(import.meta.dirname, '..', '..', 'dist', 'src', 'index.js');
const CAN_UNSHARE = process.platform === 'linux' && spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true']).status === 0;
const UNSHARE = ['--pid', '--fork', '--mount-proc'];

const children: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) {
      c.stdin?.end();
      await new Promise((resolve) => c.once('exit', resolve));
    }
  }
  dirs.splice(0).forEach(rmrf);
});

/** A holder-child in a PID namespace of its own; resolves once it holds the database. */
async function holderInNewNamespace(db: string): Promise<ChildProcess> {
  const child = spawn('unshare', [...UNSHARE, process.execPath, HOLDER, db], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) resolve();
      if (out.includes('error')) reject(new Error(out));
    });
    child.once('exit', () => reject(new Error(`holder exited: ${out}`)));
  });
  return child;
}

/** Emdb.open from another PID namespace; its outcome as one line. */
function openFromNewNamespace(db: string): string {
  const script = `import(${JSON.stringify(INDEX)}).then(({ Emdb }) => Emdb.open(${JSON.stringify(db)}).then(async (d) => { await d.insert('intruder', '1'); await d.close(); console.log('OPENED'); }, (e) => console.log(e.code + ' ' + e.message)));`;
  const r = spawnSync('unshare', [...UNSHARE, process.execPath, '-e', script], { encoding: 'utf8' });
  return r.stdout.trim();
}

describe.skipIf(!CAN_UNSHARE)('a lock held in another PID namespace on this hostname', () => {
  it('is not broken by an open from this namespace, nor from a third one', async () => {
    const dir = tmpDir();
    dirs.push(dir);
    const db = path.join(dir, 'db.emdb');
    const holder = await holderInNewNamespace(db);
    const lockBefore = fs.readFileSync(`${db}.lock`, 'utf8');

    const err = await Emdb.open(db).then(
      async (d) => {
        await d.close();
        return undefined;
      },
      (e: unknown) => e as { code: string; message: string },
    );
    expect(err?.code).toBe(ErrorCode.LOCKED);
    expect(err?.message).toMatch(/another PID namespace/);
    expect(err?.message).toContain(`break-lock --force ${fs.realpathSync(dir)}`);

    const third = openFromNewNamespace(db);
    expect(third).toMatch(new RegExp(`^${ErrorCode.LOCKED} .*another PID namespace`));

    const info = await Emdb.lockHolder(db);
    expect(info).toMatchObject({ stale: false, checkable: false });
    await rejectsWithCode(Emdb.breakLock(db), ErrorCode.LOCKED);
    expect(fs.readFileSync(`${db}.lock`, 'utf8')).toBe(lockBefore);

    holder.stdin!.write('close\n');
    await new Promise((resolve) => holder.once('exit', resolve));
    const d = await Emdb.open(db);
    expect(d.getSync('child')).toBeDefined();
    expect(d.getSync('intruder')).toBeUndefined();
    await d.close();
  });
});
