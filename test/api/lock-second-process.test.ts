/**
 * Single writer per database file, through the public API: while a child
 * process (fixtures/holder-child.ts) holds the database, Emdb.open in this
 * process fails with ERR_EMDB_LOCKED and touches neither the database nor the
 * lock; a second Emdb.open in the same process while the first is open fails
 * the same way without disturbing the first; after close (in either process)
 * the database opens again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Emdb, ErrorCode } from 'emdb-js';
import { FIXTURES, rejectsWithCode, rmrf, tmpDir } from '../helpers/common.js';

const HOLDER = path.join(FIXTURES, 'holder-child.js');

interface Holder {
  child: ChildProcess;
  /** Resolves with the first stdout line matching `want`; rejects if the child exits first. */
  line(want: RegExp): Promise<string>;
}

const children: ChildProcess[] = [];
const dirs: string[] = [];

function startHolder(file: string): Holder {
  const child = spawn(process.execPath, [HOLDER, file], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  const waiters: (() => void)[] = [];
  const poke = () => waiters.splice(0).forEach((w) => w());
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    poke();
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.once('exit', poke);
  const line = (want: RegExp) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const hit = out.split('\n').find((l) => want.test(l));
        if (hit !== undefined) resolve(hit);
        else if (child.exitCode !== null || child.signalCode !== null) reject(new Error(`holder exited before ${want}: ${out} ${err}`));
        else waiters.push(check);
      };
      check();
    });
  return { child, line };
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

const sha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

function newDb(): string {
  const dir = tmpDir('emdb-lock2-');
  dirs.push(dir);
  return path.join(dir, 'locked.emdb');
}

beforeAll(() => {
  if (!fs.existsSync(HOLDER)) throw new Error(`${HOLDER} is missing: run \`npm run build\` first`);
});

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited(child);
  }
  dirs.splice(0).forEach(rmrf);
});

describe('one writer per database file', () => {
  it('another process holding the database → LOCKED here; after it closes, this process opens it', async () => {
    const file = newDb();
    const holder = startHolder(file);
    expect(await holder.line(/^(ready|error)/)).toBe('ready');
    const lockBefore = fs.readFileSync(`${file}.lock`, 'utf8');
    const dbBefore = sha(file);

    const err = await Emdb.open(file, { readers: 1 }).then(
      async (db) => {
        await db.close();
        return undefined;
      },
      (e: unknown) => e as Error & { code?: string },
    );
    expect(err?.code).toBe(ErrorCode.LOCKED);
    expect(err?.message).toContain(`pid ${holder.child.pid}`);
    // The refused open left the holder's lock and data alone.
    expect(fs.readFileSync(`${file}.lock`, 'utf8')).toBe(lockBefore);
    expect(sha(file)).toBe(dbBefore);
    // Another spelling of the same path is the same database.
    await rejectsWithCode(Emdb.open(path.join(path.dirname(file), '.', path.basename(file)), { readers: 1 }), ErrorCode.LOCKED);

    holder.child.stdin!.write('close\n');
    expect(await holder.line(/^closed$/)).toBe('closed');
    await exited(holder.child);
    expect(fs.existsSync(`${file}.lock`)).toBe(false);

    const db = await Emdb.open(file, { readers: 1 });
    try {
      expect(db.getSync('child')?.toString()).toBe(`pid ${holder.child.pid}`);
    } finally {
      await db.close();
    }
  });

  it('a second open in the same process → LOCKED, and the first handle keeps working and keeps the lock', async () => {
    const file = newDb();
    const first = await Emdb.open(file, { readers: 1 });
    try {
      await first.insert('a', '1');
      await rejectsWithCode(Emdb.open(file, { readers: 1 }), ErrorCode.LOCKED);
      await rejectsWithCode(Emdb.open(path.join(path.dirname(file), '..', path.basename(path.dirname(file)), path.basename(file))), ErrorCode.LOCKED);
      // The failed attempts did not release or replace the first handle's lock.
      const lock = JSON.parse(fs.readFileSync(`${file}.lock`, 'utf8')) as { pid: number };
      expect(lock.pid).toBe(process.pid);
      await first.insert('b', '2');
      expect(first.getSync('a')?.toString()).toBe('1');
      expect((await first.get('b'))?.toString()).toBe('2');
      // Still exclusive towards other processes, too.
      const other = startHolder(file);
      expect(await other.line(/^(ready|error)/)).toBe(`error ${ErrorCode.LOCKED}`);
    } finally {
      await first.close();
    }
    expect(fs.existsSync(`${file}.lock`)).toBe(false);

    const again = await Emdb.open(file, { readers: 1 });
    try {
      expect(await again.len()).toBe(2);
      expect(again.getSync('b')?.toString()).toBe('2');
      await rejectsWithCode(Emdb.open(file, { readers: 1 }), ErrorCode.LOCKED);
    } finally {
      await again.close();
    }
    // And another process can take it once this one has closed.
    const holder = startHolder(file);
    expect(await holder.line(/^(ready|error)/)).toBe('ready');
  });

  it('a holder killed with SIGKILL does not keep the database locked', async () => {
    const file = newDb();
    const holder = startHolder(file);
    expect(await holder.line(/^(ready|error)/)).toBe('ready');
    holder.child.kill('SIGKILL');
    await exited(holder.child);
    expect(fs.existsSync(`${file}.lock`), 'the killed holder left its lock file').toBe(true);
    const db = await Emdb.open(file, { readers: 1 });
    try {
      expect(db.getSync('child')?.toString()).toBe(`pid ${holder.child.pid}`);
    } finally {
      await db.close();
    }
    expect(fs.existsSync(`${file}.lock`)).toBe(false);
  });
});
