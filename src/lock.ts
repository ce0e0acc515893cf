import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EmdbError, ErrorCode, ioError } from './errors.js';

/**
 * Single-writer lock: `<db>.lock`, created with O_EXCL and holding JSON
 * `{ pid, hostname, startedAt, procStart? }`. A lock whose holder is provably
 * gone (same host, and the pid is dead or now belongs to another process) is
 * broken automatically, so a crash never needs manual cleanup.
 */
export interface LockInfo {
  pid: number;
  hostname: string;
  startedAt: string;
}

export interface LockHandle {
  /** The lock file (`<db>.lock`). */
  readonly path: string;
  /** Idempotent; removes the lock file only if it still holds our content. */
  release(): Promise<void>;
}

interface LockRecord extends LockInfo {
  /** Field 22 of /proc/<pid>/stat: tells a reused pid from the original holder. */
  procStart?: number;
}

/** What was read from the lock file, identifying it well enough to unlink only that exact file. */
interface Snapshot {
  raw: string;
  dev: number;
  ino: number;
  mtimeMs: number;
}

interface Verdict {
  stale: boolean;
  message: string;
}

/** Below this age an unparseable lock file may be a holder between create and write. */
const STALE_MS = 10_000;
const MAX_ATTEMPTS = 8;

/** Locks held by this thread, keyed by resolved database path; `undefined` while being acquired. */
const held = new Map<string, { file: string; raw: string } | undefined>();
let exitHookInstalled = false;

function errCode(err: unknown): string | undefined {
  return (err as { code?: string } | null)?.code;
}

function lockedError(dbPath: string, message: string): EmdbError {
  return new EmdbError(ErrorCode.LOCKED, `database ${dbPath} is locked: ${message}`);
}

function procStartOf(pid: number): number | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm (field 2) may contain spaces and ')', so count fields from its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const value = Number(fields[22 - 3]);
  return Number.isSafeInteger(value) ? value : undefined;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to another user.
    return errCode(err) === 'EPERM';
  }
}

function parseRecord(raw: string): LockRecord | undefined {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return undefined;
  }
  const r = v as Partial<LockRecord> | null;
  if (!r || typeof r !== 'object') return undefined;
  if (!Number.isSafeInteger(r.pid) || (r.pid as number) <= 0) return undefined;
  if (typeof r.hostname !== 'string' || typeof r.startedAt !== 'string') return undefined;
  if (r.procStart !== undefined && !Number.isSafeInteger(r.procStart)) return undefined;
  return r as LockRecord;
}

function judge(snap: Snapshot): Verdict {
  const rec = parseRecord(snap.raw);
  if (!rec) {
    const age = Date.now() - snap.mtimeMs;
    return age > STALE_MS
      ? { stale: true, message: `unreadable lock file, ${Math.round(age / 1000)} s old` }
      : { stale: false, message: 'lock file is being written by another process' };
  }
  const who = `pid ${rec.pid} on ${rec.hostname} since ${rec.startedAt}`;
  // We cannot probe processes on another machine (shared/network file system).
  if (rec.hostname !== os.hostname()) return { stale: false, message: `held by ${who} (another host; use breakLock on that host)` };
  if (!pidAlive(rec.pid)) return { stale: true, message: `holder ${who} is gone` };
  if (rec.procStart !== undefined) {
    const now = procStartOf(rec.pid);
    if (now !== undefined && now !== rec.procStart) return { stale: true, message: `pid ${rec.pid} was reused` };
  }
  return { stale: false, message: `held by ${who}` };
}

async function readSnapshot(file: string): Promise<Snapshot | undefined> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(file, 'r');
  } catch (err) {
    if (errCode(err) === 'ENOENT') return undefined;
    throw ioError(`reading lock file ${file}`, err);
  }
  try {
    // Stat and read through one descriptor so identity and content describe the same file.
    const st = await fh.stat();
    const raw = await fh.readFile('utf8');
    return { raw, dev: st.dev, ino: st.ino, mtimeMs: st.mtimeMs };
  } catch (err) {
    throw ioError(`reading lock file ${file}`, err);
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** Makes the new directory entry durable; best effort where directories cannot be fsynced. */
async function fsyncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(dir, 'r');
    await fh.sync();
  } catch (err) {
    // Some file systems reject fsync on directories; the lock still works without it.
    if (!['EINVAL', 'ENOTSUP', 'EISDIR', 'EPERM', 'EBADF'].includes(errCode(err) ?? '')) {
      throw ioError(`fsync of directory ${dir}`, err);
    }
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

async function unlinkIfPresent(p: string, what: string): Promise<void> {
  try {
    await fsp.unlink(p);
  } catch (err) {
    if (errCode(err) !== 'ENOENT') throw ioError(`removing ${what} ${p}`, err);
  }
}

/**
 * Short-lived mutex serialising stale-lock breakers: mkdir is atomic, so two
 * processes that both saw the same stale lock cannot both delete "it" (the
 * second would otherwise delete the first one's fresh lock). A mutex left by a
 * breaker that crashed in its few-millisecond critical section ages out.
 */
async function withBreakMutex(dbPath: string, fn: () => Promise<void>): Promise<void> {
  const mutex = `${dbPath}.lock.breaking`;
  const deadline = Date.now() + STALE_MS + 2_000;
  for (;;) {
    try {
      await fsp.mkdir(mutex);
      break;
    } catch (err) {
      if (errCode(err) !== 'EEXIST') throw ioError(`creating ${mutex}`, err);
    }
    let mtimeMs: number;
    try {
      mtimeMs = (await fsp.stat(mutex)).mtimeMs;
    } catch (err) {
      if (errCode(err) === 'ENOENT') continue;
      throw ioError(`stat of ${mutex}`, err);
    }
    if (Date.now() - mtimeMs > STALE_MS) {
      await fsp.rmdir(mutex).catch((err: unknown) => {
        if (!['ENOENT', 'ENOTEMPTY', 'EEXIST'].includes(errCode(err) ?? '')) throw ioError(`removing stale ${mutex}`, err);
      });
      continue;
    }
    if (Date.now() > deadline) throw lockedError(dbPath, `another process keeps ${mutex} busy`);
    await sleep(5 + Math.random() * 20);
  }
  try {
    await fn();
  } finally {
    await fsp.rmdir(mutex).catch((err: unknown) => {
      if (errCode(err) !== 'ENOENT') throw ioError(`removing ${mutex}`, err);
    });
  }
}

/**
 * Removes the lock file if it is still exactly the file judged stale
 * (`observed`), re-judging under the mutex. Returns false when it changed
 * meanwhile, so the caller should look again.
 */
async function breakStale(dbPath: string, observed: Snapshot): Promise<boolean> {
  const file = `${dbPath}.lock`;
  let removed = false;
  await withBreakMutex(dbPath, async () => {
    const now = await readSnapshot(file);
    if (!now || now.raw !== observed.raw || now.ino !== observed.ino || now.dev !== observed.dev) return;
    if (!judge(now).stale) return;
    await unlinkIfPresent(file, 'stale lock file');
    removed = true;
  });
  return removed;
}

/**
 * Creates the lock file exclusively and durably; false when it already exists.
 * The content is written and fsynced in a private temp file first and then
 * hard-linked into place (atomic, EEXIST if taken): a holder killed at any
 * instant leaves either no lock file or a complete one, never an empty lock
 * that would have to be waited out.
 */
async function createLockFile(file: string, raw: string): Promise<boolean> {
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    const fh = await fsp.open(tmp, 'wx');
    try {
      await fh.writeFile(raw, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await fsp.link(tmp, file);
    } catch (err) {
      if (errCode(err) === 'EEXIST') return false;
      throw err;
    }
    await fsyncDir(path.dirname(file));
    return true;
  } catch (err) {
    throw ioError(`creating lock file ${file}`, err);
  } finally {
    await fsp.unlink(tmp).catch(() => undefined);
  }
}

/**
 * A process killed inside createLockFile leaves its `<lock>.<pid>.<rand>.tmp`
 * behind. Once we hold the lock, a temp whose writer is provably gone (the
 * same test as for a stale lock: same host and the pid dead or reused, or
 * unreadable and older than STALE_MS) is removed. Temps of live racers stay:
 * they remove their own. Best effort: a failure here never fails the open.
 */
async function removeOrphanTemps(lockFile: string): Promise<void> {
  const dir = path.dirname(lockFile);
  const prefix = `${path.basename(lockFile)}.`;
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix) || !/^\d+\.[a-z0-9]+\.tmp$/.test(name.slice(prefix.length))) continue;
    const tmp = path.join(dir, name);
    try {
      const snap = await readSnapshot(tmp);
      if (snap && judge(snap).stale) await fsp.unlink(tmp);
    } catch {
      // Gone already, or unreadable: leave it for the next open.
    }
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Backstop for a process that exits without closing; only sync calls work here.
  process.on('exit', () => {
    for (const entry of held.values()) {
      if (!entry) continue;
      try {
        if (fs.readFileSync(entry.file, 'utf8') === entry.raw) fs.unlinkSync(entry.file);
      } catch {
        // Exiting anyway; a leftover lock is detected as stale next time.
      }
    }
  });
}

export async function acquireLock(dbPath: string): Promise<LockHandle> {
  const resolved = path.resolve(dbPath);
  const file = `${resolved}.lock`;
  // A second open in this thread would otherwise be judged by pid (ours, alive) with a vaguer message.
  if (held.has(resolved)) throw lockedError(resolved, 'it is already open in this process');
  held.set(resolved, undefined);
  try {
    await fsp.mkdir(path.dirname(resolved), { recursive: true }).catch((err: unknown) => {
      throw ioError(`creating directory ${path.dirname(resolved)}`, err);
    });
    const record: LockRecord = { pid: process.pid, hostname: os.hostname(), startedAt: new Date().toISOString() };
    const procStart = procStartOf(process.pid);
    if (procStart !== undefined) record.procStart = procStart;
    const raw = `${JSON.stringify(record)}\n`;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (await createLockFile(file, raw)) {
        held.set(resolved, { file, raw });
        installExitHook();
        await removeOrphanTemps(file);
        return makeHandle(resolved, file, raw);
      }
      const snap = await readSnapshot(file);
      if (!snap) continue; // released between our create and read
      const verdict = judge(snap);
      if (!verdict.stale) throw lockedError(resolved, verdict.message);
      await breakStale(resolved, snap);
    }
    throw lockedError(resolved, `gave up after ${MAX_ATTEMPTS} attempts under contention`);
  } catch (err) {
    held.delete(resolved);
    throw err;
  }
}

function makeHandle(resolved: string, file: string, raw: string): LockHandle {
  let released = false;
  return {
    path: file,
    async release(): Promise<void> {
      if (released) return;
      released = true;
      held.delete(resolved);
      let current: string;
      try {
        current = await fsp.readFile(file, 'utf8');
      } catch (err) {
        if (errCode(err) === 'ENOENT') return;
        throw ioError(`reading lock file ${file}`, err);
      }
      // Someone may have broken our lock (e.g. judged us dead); never delete theirs.
      if (current === raw) await unlinkIfPresent(file, 'lock file');
    },
  };
}

/**
 * Throws ERR_EMDB_LOCKED when the database at `dbPath` is open here or by a live
 * holder elsewhere (a stale lock does not count). backupTo checks it before it
 * replaces a file: renaming over an open database would leave that database
 * writing to an unlinked file. Synchronous, so the backup request that follows
 * reaches the writer before anything the caller does next (such as close()).
 */
export function assertNotOpen(dbPath: string): void {
  const resolved = path.resolve(dbPath);
  if (held.has(resolved)) throw lockedError(resolved, 'it is open in this process');
  const file = `${resolved}.lock`;
  let snap: Snapshot;
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const st = fs.fstatSync(fd);
      snap = { raw: fs.readFileSync(fd, 'utf8'), dev: st.dev, ino: st.ino, mtimeMs: st.mtimeMs };
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    if (errCode(err) === 'ENOENT') return;
    throw ioError(`reading lock file ${file}`, err);
  }
  const verdict = judge(snap);
  if (!verdict.stale) throw lockedError(resolved, verdict.message);
}

/** Who holds the lock, or undefined when there is no lock file. Does not judge staleness. */
export async function lockHolder(dbPath: string): Promise<LockInfo | undefined> {
  const resolved = path.resolve(dbPath);
  const file = `${resolved}.lock`;
  for (let attempt = 0; ; attempt++) {
    const snap = await readSnapshot(file);
    if (!snap) return undefined;
    const rec = parseRecord(snap.raw);
    if (rec) return { pid: rec.pid, hostname: rec.hostname, startedAt: rec.startedAt };
    // A holder may be between create and write; give it a moment before reporting garbage.
    if (attempt >= 5 || Date.now() - snap.mtimeMs > STALE_MS) {
      throw new EmdbError(ErrorCode.IO, `lock file ${file} has unreadable content; breakLock removes it once it is ${STALE_MS / 1000} s old`);
    }
    await sleep(20);
  }
}

/** Removes the lock only when its holder is provably gone; a live (or unknowable) holder -> LOCKED. */
export async function breakLock(dbPath: string): Promise<void> {
  const resolved = path.resolve(dbPath);
  const file = `${resolved}.lock`;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const snap = await readSnapshot(file);
    if (!snap) return;
    const verdict = judge(snap);
    if (!verdict.stale) throw lockedError(resolved, verdict.message);
    if (await breakStale(resolved, snap)) return;
  }
  throw lockedError(resolved, `lock file kept changing over ${MAX_ATTEMPTS} attempts`);
}
