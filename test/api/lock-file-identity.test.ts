/**
 * One database file is one lock, whatever name it is opened by (issue 12,
 * defect 1): a symlink to the file, a symlinked directory, or a hard link to it
 * reach the same lock, in this thread, from another worker thread of this
 * process and from another process, also for a file created by the open and
 * after compact() replaced it with a new inode. The refused open leaves the
 * holder's writes alone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { Emdb, ErrorCode, FIXTURES, rejectsWithCode, tempDirs } from '../helpers/common.js';

const newDir = tempDirs('emdb-identity-');
const children: ChildProcess[] = [];
const workers: Worker[] = [];

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all(workers.splice(0).map((w) => w.terminate()));
});

/** `real.emdb` (opened once, so it exists), a symlink to it, a hard link to it, and a symlink to its directory. */
async function names(): Promise<{ real: string; sym: string; hard: string; viaDir: string }> {
  const dir = newDir();
  const realDir = path.join(dir, 'data');
  fs.mkdirSync(realDir);
  const real = path.join(realDir, 'real.emdb');
  const db = await Emdb.open(real, { readers: 1 });
  await db.insert('seed', 'x');
  await db.close();
  const sym = path.join(dir, 'sym.emdb');
  fs.symlinkSync(real, sym);
  const hard = path.join(dir, 'hard.emdb');
  fs.linkSync(real, hard);
  fs.symlinkSync(realDir, path.join(dir, 'dirlink'));
  return { real, sym, hard, viaDir: path.join(dir, 'dirlink', 'real.emdb') };
}

function openInThread(file: string): Promise<{ worker: Worker; result: { ok: boolean; code?: string } }> {
  const worker = new Worker(path.join(FIXTURES, 'thread-opener.js'), { workerData: { path: file, keys: 3 } });
  workers.push(worker);
  return new Promise((resolve, reject) => {
    worker.once('message', (result) => resolve({ worker, result }));
    worker.once('error', reject);
  });
}

function holderProcess(file: string): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(process.execPath, [path.join(FIXTURES, 'holder-child.js'), file], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => /^(ready|error)/.test(l));
      if (line) resolve({ child, line });
    });
    child.once('exit', () => reject(new Error(`holder exited: ${out}`)));
  });
}

describe('one lock per database file, whatever its name', () => {
  it('in one thread: a symlink, a symlinked directory and a hard link are refused while the file is open', async () => {
    const n = await names();
    const db = await Emdb.open(n.real, { readers: 1 });
    try {
      for (const other of [n.sym, n.viaDir, n.hard]) await rejectsWithCode(Emdb.open(other, { readers: 1 }), ErrorCode.LOCKED);
      await db.insert('after', 'still mine');
      expect(db.getSync('after')?.toString()).toBe('still mine');
    } finally {
      await db.close();
    }
    // Closed: every name opens it again (one at a time), and sees the same data.
    for (const other of [n.hard, n.sym, n.viaDir, n.real]) {
      const again = await Emdb.open(other, { readers: 1 });
      expect(again.getSync('after')?.toString(), other).toBe('still mine');
      await again.close();
    }
  });

  it('opened through the hard link first: the original name is refused too', async () => {
    const n = await names();
    const db = await Emdb.open(n.hard, { readers: 1 });
    try {
      await rejectsWithCode(Emdb.open(n.real, { readers: 1 }), ErrorCode.LOCKED);
      await rejectsWithCode(Emdb.open(n.sym, { readers: 1 }), ErrorCode.LOCKED);
    } finally {
      await db.close();
    }
  });

  it('from another worker thread of this process', async () => {
    const n = await names();
    const { worker, result } = await openInThread(n.real);
    expect(result).toEqual({ ok: true });
    for (const other of [n.sym, n.hard, n.viaDir]) {
      expect((await openInThread(other)).result, other).toEqual({ ok: false, code: ErrorCode.LOCKED });
      await rejectsWithCode(Emdb.open(other, { readers: 1 }), ErrorCode.LOCKED);
    }
    worker.postMessage('close');
    await new Promise((resolve) => worker.once('message', resolve));
    const db = await Emdb.open(n.hard, { readers: 1 });
    expect(db.getSync('k2')?.toString()).toBe('v2');
    await db.close();
  });

  it('from another process, both ways', async () => {
    const n = await names();
    const { child, line } = await holderProcess(n.real);
    expect(line).toBe('ready');
    for (const other of [n.sym, n.hard, n.viaDir]) await rejectsWithCode(Emdb.open(other, { readers: 1 }), ErrorCode.LOCKED);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const db = await Emdb.open(n.hard, { readers: 1 });
    try {
      expect(db.getSync('child')?.toString()).toBe(`pid ${child.pid}`);
      const other = await holderProcess(n.real);
      expect(other.line).toBe(`error ${ErrorCode.LOCKED}`);
    } finally {
      await db.close();
    }
  });

  it('a file created by the open, and the new file compact() renames into place, are locked by identity too', async () => {
    const dir = newDir();
    const file = path.join(dir, 'fresh.emdb');
    const db = await Emdb.open(file, { readers: 1 });
    try {
      fs.linkSync(file, path.join(dir, 'fresh-link.emdb'));
      await rejectsWithCode(Emdb.open(path.join(dir, 'fresh-link.emdb'), { readers: 1 }), ErrorCode.LOCKED);
      await db.insert('a', '1');
      const inodeBefore = fs.statSync(file).ino;
      await db.compact();
      expect(fs.statSync(file).ino).not.toBe(inodeBefore);
      fs.linkSync(file, path.join(dir, 'compacted-link.emdb'));
      await rejectsWithCode(Emdb.open(path.join(dir, 'compacted-link.emdb'), { readers: 1 }), ErrorCode.LOCKED);
      await db.insert('b', '2');
    } finally {
      await db.close();
    }
    const again = await Emdb.open(path.join(dir, 'compacted-link.emdb'), { readers: 1 });
    expect(again.getSync('b')?.toString()).toBe('2');
    await again.close();
  });

  it('a symlink to a database that does not exist yet reaches the lock of the file it will create', async () => {
    const dir = newDir();
    const file = path.join(dir, 'later.emdb');
    fs.symlinkSync(file, path.join(dir, 'dangling.emdb'));
    const db = await Emdb.open(path.join(dir, 'dangling.emdb'), { readers: 1 });
    try {
      expect(fs.existsSync(file)).toBe(true);
      await rejectsWithCode(Emdb.open(file, { readers: 1 }), ErrorCode.LOCKED);
    } finally {
      await db.close();
    }
  });

  it('a holder killed while it had the file open through a hard link does not keep the other names locked', async () => {
    const n = await names();
    const { child, line } = await holderProcess(n.hard);
    expect(line).toBe('ready');
    await rejectsWithCode(Emdb.open(n.real, { readers: 1 }), ErrorCode.LOCKED);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    // Its lock next to hard.emdb and its registry record remain, both provably stale.
    expect(fs.existsSync(`${n.hard}.lock`)).toBe(true);
    const db = await Emdb.open(n.real, { readers: 1 });
    expect(db.getSync('child')?.toString()).toBe(`pid ${child.pid}`);
    await db.close();
  });

  it('opened through a symlink, compact() replaces the file itself, not the symlink', async () => {
    const n = await names();
    const db = await Emdb.open(n.sym, { readers: 1 });
    try {
      await db.insert('via', 'symlink');
      await db.compact();
      await db.insert('after', 'compaction');
    } finally {
      await db.close();
    }
    expect(fs.lstatSync(n.sym).isSymbolicLink()).toBe(true);
    const real = await Emdb.open(n.real, { readers: 1 });
    try {
      expect(real.getSync('via')?.toString()).toBe('symlink');
      expect(real.getSync('after')?.toString()).toBe('compaction');
    } finally {
      await real.close();
    }
  });

  it('backupTo: a symlink target gets the backup in the file it points to; a hard link to an open database is refused', async () => {
    const n = await names();
    const dir = path.dirname(path.dirname(n.real));
    const db = await Emdb.open(n.real, { readers: 1 });
    const other = path.join(dir, 'other.emdb');
    const otherDb = await Emdb.open(other, { readers: 1 });
    try {
      await db.insert('backed', 'up');
      const target = path.join(dir, 'backup.emdb');
      const link = path.join(dir, 'backup-link.emdb');
      fs.symlinkSync(target, link);
      await db.backupTo(link);
      expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
      const backup = await Emdb.open(target, { readers: 1 });
      expect(backup.getSync('backed')?.toString()).toBe('up');
      await backup.close();
      fs.linkSync(other, path.join(dir, 'other-hard.emdb'));
      await rejectsWithCode(db.backupTo(path.join(dir, 'other-hard.emdb')), ErrorCode.LOCKED);
      await rejectsWithCode(db.backupTo(n.sym), ErrorCode.LOCKED);
    } finally {
      await otherDb.close();
      await db.close();
    }
  });
});
