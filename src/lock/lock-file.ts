import fs from 'node:fs';
import path from 'node:path';
import { EmdbError, ErrorCode, ioError } from '../errors.js';
import { errCode, judge, STALE_MS, type IdentityCheck, type Snapshot } from './record.js';

/**
 * Lock-file primitives. A lock file is created whole (temp file, then an
 * atomic hard link that fails with EEXIST when taken) and removed only while
 * it still holds the content it was judged by. The parts that wait (a sleep,
 * an fsync) are generators yielding what to wait for, so the opening thread
 * runs them with timers and the thread pool (its event loop never blocks on a
 * disk flush) and the writer thread (backups) runs them blocking; the rest
 * are a few quick synchronous calls.
 */

export const MAX_ATTEMPTS = 8;

/** What a step waits for: milliseconds to sleep, or the fsync of a descriptor. */
export type Wait = number | { fsync: number };
/** A step that waits: yields what it waits for, returns its result. */
export type Waiting<T> = Generator<Wait, T, void>;

export function lockedError(target: string, message: string): EmdbError {
  // The force hint of an uncheckable holder (record.ts) names this database.
  return new EmdbError(ErrorCode.LOCKED, `database ${target} is locked: ${message.replace('break-lock --force PATH', `break-lock --force ${target}`)}`);
}

export function readSnapshot(file: string): Snapshot | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    if (errCode(err) === 'ENOENT') return undefined;
    throw ioError(`reading lock file ${file}`, err);
  }
  try {
    // Stat and read through one descriptor so identity and content describe the same file.
    const st = fs.fstatSync(fd);
    return { raw: fs.readFileSync(fd, 'utf8'), dev: st.dev, ino: st.ino, mtimeMs: st.mtimeMs };
  } catch (err) {
    throw ioError(`reading lock file ${file}`, err);
  } finally {
    fs.closeSync(fd);
  }
}

/** Makes the new directory entry durable; best effort where directories cannot be fsynced. */
function* fsyncDir(dir: string): Waiting<void> {
  if (process.platform === 'win32') return;
  let fd = -1;
  try {
    fd = fs.openSync(dir, 'r');
    yield { fsync: fd };
  } catch (err) {
    // Some file systems reject fsync on directories; the lock still works without it.
    if (!['EINVAL', 'ENOTSUP', 'EISDIR', 'EPERM', 'EBADF'].includes(errCode(err) ?? '')) throw ioError(`fsync of directory ${dir}`, err);
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
}

export function unlinkIfPresent(p: string, what: string): void {
  try {
    fs.unlinkSync(p);
  } catch (err) {
    if (errCode(err) !== 'ENOENT') throw ioError(`removing ${what} ${p}`, err);
  }
}

/**
 * Creates `file` exclusively with `raw`; false when it already exists. The
 * content goes to a private temp file first and is hard-linked into place
 * (atomic, EEXIST if taken): a holder killed at any instant leaves either no
 * lock file or a complete one. `durable` fsyncs the temp and the directory, so
 * a power loss cannot leave an empty lock that would have to be waited out.
 */
export function* createLockFile(file: string, raw: string, durable: boolean): Waiting<boolean> {
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    const fd = fs.openSync(tmp, 'wx', 0o644);
    try {
      fs.writeFileSync(fd, raw, 'utf8');
      if (durable) yield { fsync: fd };
    } finally {
      fs.closeSync(fd);
    }
    try {
      fs.linkSync(tmp, file);
    } catch (err) {
      if (errCode(err) === 'EEXIST') return false;
      throw err;
    }
    if (durable) yield* fsyncDir(path.dirname(file));
    return true;
  } catch (err) {
    throw err instanceof EmdbError ? err : ioError(`creating lock file ${file}`, err);
  } finally {
    try {
      fs.unlinkSync(tmp);
    } catch {
      // never created, or already gone
    }
  }
}

/** Removes `file` if it still holds `raw` (someone may have broken our lock and taken it). */
export function removeIfOurs(file: string, raw: string): void {
  let current: string;
  try {
    current = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (errCode(err) === 'ENOENT') return;
    throw ioError(`reading lock file ${file}`, err);
  }
  if (current === raw) unlinkIfPresent(file, 'lock file');
}

/**
 * Short-lived mutex serialising stale-lock breakers: mkdir is atomic, so two
 * threads that both saw the same stale lock cannot both delete "it" (the second
 * would otherwise delete the first one's fresh lock). A mutex left by a breaker
 * that crashed in its few-millisecond critical section ages out.
 */
function* withBreakMutex(file: string, target: string, fn: () => void): Waiting<void> {
  const mutex = `${file}.breaking`;
  const deadline = Date.now() + STALE_MS + 2_000;
  for (;;) {
    try {
      fs.mkdirSync(mutex);
      break;
    } catch (err) {
      if (errCode(err) !== 'EEXIST') throw ioError(`creating ${mutex}`, err);
    }
    let mtimeMs: number;
    try {
      mtimeMs = fs.statSync(mutex).mtimeMs;
    } catch (err) {
      if (errCode(err) === 'ENOENT') continue;
      throw ioError(`stat of ${mutex}`, err);
    }
    if (Date.now() - mtimeMs > STALE_MS) {
      try {
        fs.rmdirSync(mutex);
      } catch (err) {
        if (!['ENOENT', 'ENOTEMPTY', 'EEXIST'].includes(errCode(err) ?? '')) throw ioError(`removing stale ${mutex}`, err);
      }
      continue;
    }
    if (Date.now() > deadline) throw lockedError(target, `another process keeps ${mutex} busy`);
    yield 5 + Math.random() * 20;
  }
  let failure: unknown;
  try {
    fn();
  } catch (err) {
    failure = err;
  }
  try {
    fs.rmdirSync(mutex);
  } catch (err) {
    if (errCode(err) !== 'ENOENT') failure ??= ioError(`removing ${mutex}`, err);
  }
  if (failure !== undefined) throw failure;
}

/**
 * Removes the lock file if it is still exactly the file judged stale
 * (`observed`), re-judging under the mutex (`force`: also when its holder
 * cannot be checked from here). Returns false when it changed meanwhile, so
 * the caller should look again.
 */
export function* breakStale(file: string, target: string, observed: Snapshot, identity?: IdentityCheck, force = false): Waiting<boolean> {
  let removed = false;
  yield* withBreakMutex(file, target, () => {
    const now = readSnapshot(file);
    if (!now || now.raw !== observed.raw || now.ino !== observed.ino || now.dev !== observed.dev) return;
    const verdict = judge(now, identity);
    if (!verdict.stale && !(force && !verdict.checkable)) return;
    unlinkIfPresent(file, 'stale lock file');
    removed = true;
  });
  return removed;
}

/**
 * Takes `file` with content `raw`, breaking a stale one. A live holder throws
 * ERR_EMDB_LOCKED with `conflict(message, snapshot)`. A file that already
 * holds exactly `raw` is ours (a re-bind of the same identity).
 */
export function* takeLockFile(
  file: string,
  raw: string,
  durable: boolean,
  target: string,
  conflict: (message: string, snap: Snapshot) => string,
  identity?: IdentityCheck,
): Waiting<void> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    if (yield* createLockFile(file, raw, durable)) return;
    const snap = readSnapshot(file);
    if (!snap) continue; // released between our create and read
    if (snap.raw === raw) return;
    const verdict = judge(snap, identity);
    if (!verdict.stale) throw lockedError(target, conflict(verdict.message, snap));
    yield* breakStale(file, target, snap, identity);
  }
  throw lockedError(target, `gave up after ${MAX_ATTEMPTS} attempts under contention`);
}

/** Runs a waiting step blocking (worker threads only: the main thread must not block). */
export function runBlocking<T>(steps: Waiting<T>): T {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  let r = steps.next();
  while (!r.done) {
    const wait = r.value;
    if (typeof wait === 'number') {
      Atomics.wait(cell, 0, 0, wait);
      r = steps.next();
      continue;
    }
    let failure: unknown;
    try {
      fs.fsyncSync(wait.fsync);
    } catch (err) {
      failure = err;
    }
    r = failure === undefined ? steps.next() : steps.throw(failure);
  }
  return r.value;
}

/** Runs a waiting step with timers and the thread pool. */
export async function runAsync<T>(steps: Waiting<T>): Promise<T> {
  let r = steps.next();
  while (!r.done) {
    const wait = r.value;
    if (typeof wait === 'number') {
      await new Promise((resolve) => setTimeout(resolve, wait));
      r = steps.next();
      continue;
    }
    const failure = await new Promise<unknown>((resolve) => fs.fsync(wait.fsync, (err) => resolve(err ?? undefined)));
    r = failure === undefined ? steps.next() : steps.throw(failure);
  }
  return r.value;
}
