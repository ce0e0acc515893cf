import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../dist/src/errors.js';
import { acquireLock, breakLock, lockHolder } from '../../dist/src/lock.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const BUILT = path.join(ROOT, 'dist', 'src', 'lock.js');
const HAS_PROC = fs.existsSync('/proc/self/stat');

/**
 * Child processes need plain JS, so they import the compiled module. Rebuild
 * when dist is missing or older than the sources; a failing build caused by
 * other files still emits ours, so only freshness of our output decides.
 */
function ensureBuilt(): void {
  const sources = ['lock.ts', 'errors.ts', 'lock/record.ts', 'lock/lock-file.ts', 'lock/identity.ts', 'lock/orphans.ts', 'lock/host.ts'].map((f) => fs.statSync(path.join(ROOT, 'src', f)).mtimeMs);
  const fresh = () => fs.existsSync(BUILT) && fs.statSync(BUILT).mtimeMs >= Math.max(...sources);
  if (fresh()) return;
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'pipe' });
  } catch (err) {
    if (!fresh()) throw err;
  }
}

/**
 * A child that waits for "go" on stdin when GATED, tries to take the lock,
 * prints "acquired" or "error <code>", then holds it until killed (or exits
 * at once without releasing when EXIT is set).
 */
const CHILD = `
const { acquireLock } = await import(process.env.LOCK_MODULE);
if (process.env.GATED) {
  console.log('ready');
  await new Promise((resolve) => process.stdin.once('data', resolve));
}
try {
  await acquireLock(process.env.DB);
  console.log('acquired');
} catch (err) {
  console.log('error ' + err.code);
}
if (process.env.EXIT) process.exit(0);
setInterval(() => {}, 1000);
`;

const children: ChildProcess[] = [];
const dirs: string[] = [];

function tmpDb(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emdb-lock-'));
  dirs.push(dir);
  return path.join(dir, 'db.emdb');
}

function startChild(db: string, env: Record<string, string> = {}): { child: ChildProcess; line: (want: RegExp) => Promise<string> } {
  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], {
    env: { ...process.env, DB: db, LOCK_MODULE: pathToFileURL(BUILT).href, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const line = (want: RegExp) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const hit = out.split('\n').find((l) => want.test(l));
        if (hit !== undefined) {
          clearInterval(timer);
          resolve(hit);
        } else if (child.exitCode !== null || child.signalCode !== null) {
          clearInterval(timer);
          reject(new Error(`child exited before printing ${want}: ${out} ${err}`));
        }
      };
      const timer = setInterval(check, 5);
    });
  return { child, line };
}

function killAndWait(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/** A pid that certainly belonged to a process which has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

/** This process's PID namespace and boot, as a record written here carries them (lock/host.ts). */
function pidScope(): Record<string, string> {
  if (!HAS_PROC) return {};
  return { pidNs: fs.readlinkSync('/proc/self/ns/pid'), bootId: fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() };
}

function lockContent(fields: Record<string, unknown>): string {
  return JSON.stringify({ hostname: os.hostname(), startedAt: new Date().toISOString(), ...pidScope(), ...fields });
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

beforeAll(ensureBuilt);

afterEach(async () => {
  await Promise.all(children.splice(0).map(killAndWait));
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

describe('acquireLock within one process', () => {
  it('refuses a second acquire of the same database with LOCKED', async () => {
    const db = tmpDb();
    const lock = await acquireLock(db);
    expect(await codeOf(acquireLock(db))).toBe(ErrorCode.LOCKED);
    // The same file through another spelling of the path is the same lock.
    expect(await codeOf(acquireLock(path.join(path.dirname(db), '.', 'db.emdb')))).toBe(ErrorCode.LOCKED);
    await lock.release();
  });

  it('writes pid, hostname, startedAt and procStart, and release then re-acquire works', async () => {
    const db = tmpDb();
    const lock = await acquireLock(db);
    expect(lock.path).toBe(`${db}.lock`);
    const rec = JSON.parse(fs.readFileSync(lock.path, 'utf8'));
    expect(rec).toMatchObject({ pid: process.pid, hostname: os.hostname() });
    expect(new Date(rec.startedAt).toISOString()).toBe(rec.startedAt);
    if (HAS_PROC) expect(typeof rec.procStart).toBe('number');
    expect(await lockHolder(db)).toEqual({ pid: process.pid, hostname: os.hostname(), startedAt: rec.startedAt, stale: false, checkable: true, detail: expect.stringContaining('held by') });
    await lock.release();
    await lock.release(); // idempotent
    expect(fs.existsSync(lock.path)).toBe(false);
    expect(await lockHolder(db)).toBeUndefined();
    const again = await acquireLock(db);
    await again.release();
  });

  it('release leaves alone a lock file that is no longer ours', async () => {
    const db = tmpDb();
    const lock = await acquireLock(db);
    const theirs = lockContent({ pid: process.pid, startedAt: '2000-01-01T00:00:00.000Z' });
    fs.writeFileSync(lock.path, theirs);
    await lock.release();
    expect(fs.readFileSync(lock.path, 'utf8')).toBe(theirs);
  });
});

describe('locks held by another process', () => {
  it('a live holder makes acquire LOCKED, is reported by lockHolder, and breakLock refuses it', async () => {
    const db = tmpDb();
    const { child, line } = startChild(db);
    expect(await line(/^(acquired|error)/)).toBe('acquired');
    const err = await acquireLock(db).catch((e: unknown) => e as Error & { code: string });
    expect(err).toMatchObject({ code: ErrorCode.LOCKED });
    expect((err as Error).message).toContain(`pid ${child.pid}`);
    expect((err as Error).message).toContain(os.hostname());
    expect(await lockHolder(db)).toMatchObject({ pid: child.pid, hostname: os.hostname() });
    expect(await codeOf(breakLock(db))).toBe(ErrorCode.LOCKED);
    expect(fs.existsSync(`${db}.lock`)).toBe(true);
  });

  it('after the holder is SIGKILLed, acquire succeeds without manual action', async () => {
    const db = tmpDb();
    const { child, line } = startChild(db);
    expect(await line(/^(acquired|error)/)).toBe('acquired');
    await killAndWait(child);
    expect(await lockHolder(db)).toMatchObject({ pid: child.pid });
    const lock = await acquireLock(db);
    expect(await lockHolder(db)).toMatchObject({ pid: process.pid });
    await lock.release();
  });

  it('breakLock removes a dead holder\'s lock and is a no-op without a lock', async () => {
    const db = tmpDb();
    const { child, line } = startChild(db);
    expect(await line(/^(acquired|error)/)).toBe('acquired');
    await killAndWait(child);
    await breakLock(db);
    expect(await lockHolder(db)).toBeUndefined();
    await breakLock(db);
    expect(fs.existsSync(`${db}.lock.breaking`)).toBe(false);
  });

  it('a process that exits without releasing leaves no lock file behind', async () => {
    const db = tmpDb();
    const { child, line } = startChild(db, { EXIT: '1' });
    expect(await line(/^(acquired|error)/)).toBe('acquired');
    await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)));
    expect(fs.existsSync(`${db}.lock`)).toBe(false);
  });
});

describe('judging existing lock files', () => {
  it('treats unreadable content as in-progress when fresh and as stale after 10 s', async () => {
    const db = tmpDb();
    fs.writeFileSync(`${db}.lock`, '');
    expect(await codeOf(acquireLock(db))).toBe(ErrorCode.LOCKED);
    expect(await codeOf(breakLock(db))).toBe(ErrorCode.LOCKED);
    expect(await codeOf(lockHolder(db))).toBe(ErrorCode.IO);
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(`${db}.lock`, old, old);
    const lock = await acquireLock(db);
    await lock.release();
  });

  it('never breaks a lock from another host, even with a dead pid', async () => {
    const db = tmpDb();
    fs.writeFileSync(`${db}.lock`, lockContent({ pid: await deadPid(), hostname: `not-${os.hostname()}` }));
    expect(await codeOf(acquireLock(db))).toBe(ErrorCode.LOCKED);
    expect(await codeOf(breakLock(db))).toBe(ErrorCode.LOCKED);
    expect(fs.existsSync(`${db}.lock`)).toBe(true);
  });

  it.skipIf(!HAS_PROC)('detects pid reuse through procStart', async () => {
    const db = tmpDb();
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    const procStart = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    // Same live pid, same start time: a genuine holder.
    fs.writeFileSync(`${db}.lock`, lockContent({ pid: process.pid, procStart }));
    expect(await codeOf(acquireLock(db))).toBe(ErrorCode.LOCKED);
    // Same live pid, different start time: the recorded holder is gone.
    fs.writeFileSync(`${db}.lock`, lockContent({ pid: process.pid, procStart: procStart + 1 }));
    const lock = await acquireLock(db);
    await lock.release();
  });

  it('ignores a breaking mutex abandoned more than 10 s ago', async () => {
    const db = tmpDb();
    fs.writeFileSync(`${db}.lock`, lockContent({ pid: await deadPid() }));
    fs.mkdirSync(`${db}.lock.breaking`);
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(`${db}.lock.breaking`, old, old);
    const lock = await acquireLock(db);
    expect(fs.existsSync(`${db}.lock.breaking`)).toBe(false);
    await lock.release();
  });
});

describe('breaking a stale lock concurrently', () => {
  it('lets exactly one of several processes win', async () => {
    const db = tmpDb();
    for (let round = 0; round < 6; round++) {
      fs.writeFileSync(`${db}.lock`, lockContent({ pid: await deadPid() }));
      const racers = Array.from({ length: 6 }, () => startChild(db, { GATED: '1' }));
      await Promise.all(racers.map((r) => r.line(/^ready$/)));
      for (const r of racers) r.child.stdin!.write('go\n');
      const results = await Promise.all(racers.map((r) => r.line(/^(acquired|error)/)));
      expect(results.filter((r) => r === 'acquired')).toHaveLength(1);
      expect(results.filter((r) => r === `error ${ErrorCode.LOCKED}`)).toHaveLength(racers.length - 1);
      await Promise.all(racers.map((r) => killAndWait(r.child)));
    }
    expect(fs.existsSync(`${db}.lock.breaking`)).toBe(false);
  });
});

describe('lock temp files left by killed openers', () => {
  it('the next holder removes the temps of dead writers and keeps those of live ones', async () => {
    const db = tmpDb();
    const temp = (pid: number, tag: string) => `${db}.lock.${pid}.${tag}.tmp`;
    const dead = await deadPid();
    const deadTemp = temp(dead, 'dead1');
    fs.writeFileSync(deadTemp, lockContent({ pid: dead }));
    const liveTemp = temp(process.pid, 'live1');
    fs.writeFileSync(liveTemp, lockContent({ pid: process.pid }));
    // Killed between creating and writing it: empty. Old → gone; fresh → maybe a racer still writing.
    const oldEmpty = temp(dead, 'oldempty');
    fs.writeFileSync(oldEmpty, '');
    const past = new Date(Date.now() - 60_000);
    fs.utimesSync(oldEmpty, past, past);
    const freshEmpty = temp(dead, 'freshempty');
    fs.writeFileSync(freshEmpty, '');
    const otherHost = temp(dead, 'otherhost');
    fs.writeFileSync(otherHost, lockContent({ pid: dead, hostname: `${os.hostname()}-elsewhere` }));
    const notOurs = `${db}.lock.${dead}.notours`;
    fs.writeFileSync(notOurs, lockContent({ pid: dead }));

    const lock = await acquireLock(db);
    const left = new Set(fs.readdirSync(path.dirname(db)).map((n) => path.join(path.dirname(db), n)));
    expect(left.has(deadTemp)).toBe(false);
    expect(left.has(oldEmpty)).toBe(false);
    expect(left.has(liveTemp)).toBe(true);
    expect(left.has(freshEmpty)).toBe(true);
    expect(left.has(otherHost)).toBe(true);
    expect(left.has(notOurs)).toBe(true);
    await lock.release();
  });
});
