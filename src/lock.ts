import fs from 'node:fs';
import path from 'node:path';
import { EmdbError, ErrorCode, ioError } from './errors.js';
import { canonicalPath, identityFile, registryCheck, registryKey } from './lock/identity.js';
import {
  breakStale,
  lockedError,
  MAX_ATTEMPTS,
  readSnapshot,
  removeIfOurs,
  runAsync,
  runBlocking,
  takeLockFile,
  type Waiting,
} from './lock/lock-file.js';
import { removeOrphanTemps } from './lock/orphans.js';
import { judge, newRecord, parseRecord, STALE_MS, type IdentityCheck, type LockInfo, type LockRecord, type Snapshot } from './lock/record.js';

export type { LockInfo };

/**
 * Single-writer lock on a database file's identity, not on the name it was
 * opened by:
 *  - `<file>.lock` next to the file, the file's path with every symlink
 *    resolved (so a symlinked file or directory reaches the same lock),
 *    created whole and exclusively, holding JSON `{ pid, hostname, startedAt,
 *    procStart?, tid?, tidStart?, thread?, path }`;
 *  - while the file exists, the same record under `<dev>-<ino>.lock` in the
 *    per-user registry (lock/identity.ts), which catches hard links; it is
 *    re-bound when the file is created or replaced by a rename (compaction).
 * Both are visible to every thread and process of the host, so the one test
 * serves them all. A holder is stale when provably gone: same host, PID
 * namespace and boot (lock/host.ts), and its pid dead or reused, or (Linux)
 * the worker thread that took it has ended; or it took the lock before this
 * host last booted.
 * Stale locks are broken automatically, so a crash or a terminated worker
 * never needs manual cleanup.
 */
export interface LockHandle {
  /** The lock file (`<file>.lock`, symlinks resolved). */
  readonly path: string;
  /**
   * The database file with every symlink resolved: the writer works on this
   * name, so its renames (create, compaction) replace the file itself and
   * never a symlink to it (which would split one database into two files).
   */
  readonly file: string;
  /** The record written (JSON); the writer thread re-binds the file's identity with it (identityBinder). */
  readonly record: string;
  /** Idempotent; removes the lock files only if they still hold our content. */
  release(): Promise<void>;
}

/** What this thread holds, sync-releasable (the writer thread's backup locks use it directly). */
export interface HeldLock {
  readonly canonical: string;
  readonly file: string;
  readonly raw: string;
  key: string | undefined;
}

/** Locks held by this thread, by canonical path; `undefined` while being acquired. */
const held = new Map<string, HeldLock | undefined>();
let exitHookInstalled = false;

function otherName(snap: Snapshot): string {
  const p = parseRecord(snap.raw)?.path;
  return p ? ` (${p})` : '';
}

/** Registers the identity of the file at `lock.canonical` now, dropping the previous one. */
function* bind(lock: HeldLock): Waiting<void> {
  const key = registryKey(lock.canonical);
  if (key === lock.key) return;
  if (key !== undefined) {
    yield* takeLockFile(
      identityFile(key),
      lock.raw,
      false,
      lock.canonical,
      (message, snap) => `the same file is open under another name${otherName(snap)}: ${message}`,
      registryCheck(key),
    );
  }
  const old = lock.key;
  lock.key = key;
  if (old !== undefined) removeIfOurs(identityFile(old), lock.raw);
}

function releaseSync(lock: HeldLock): void {
  held.delete(lock.canonical);
  // The writer re-binds after creating or compacting the file, so the current identity counts too.
  let current: string | undefined;
  try {
    current = registryKey(lock.canonical);
  } catch {
    // unreadable now: the remembered key is still removed
  }
  for (const key of new Set([lock.key, current])) if (key !== undefined) removeIfOurs(identityFile(key), lock.raw);
  removeIfOurs(lock.file, lock.raw);
}

/**
 * For the writer thread of the database locked with `record` (LockHandle.record):
 * a function that registers the file's current identity under that record and
 * drops the previous one. Called once the file exists (after a create) and after
 * every rename over it (compaction), so a hard link made to the new file is
 * refused too. Blocking: worker threads only.
 */
export function identityBinder(record: string): () => void {
  const canonical = parseRecord(record)?.path;
  if (canonical === undefined) return () => undefined;
  const lock: HeldLock = { canonical, file: `${canonical}.lock`, raw: record, key: undefined };
  return () => runBlocking(bind(lock));
}

function* acquire(dbPath: string, use: LockRecord['use']): Waiting<HeldLock> {
  const canonical = canonicalPath(dbPath);
  // A second take in this thread would otherwise be judged by pid (ours, alive) with a vaguer message.
  if (held.has(canonical)) {
    throw lockedError(canonical, use === 'backup' ? 'a backup to it is already running' : 'it is already open in this process');
  }
  held.set(canonical, undefined);
  try {
    try {
      fs.mkdirSync(path.dirname(canonical), { recursive: true });
    } catch (err) {
      throw ioError(`creating directory ${path.dirname(canonical)}`, err);
    }
    const lock: HeldLock = { canonical, file: `${canonical}.lock`, raw: newRecord({ path: canonical, ...(use ? { use } : {}) }), key: undefined };
    yield* takeLockFile(lock.file, lock.raw, true, canonical, (message) => message);
    try {
      yield* bind(lock);
    } catch (err) {
      removeIfOurs(lock.file, lock.raw);
      throw err;
    }
    held.set(canonical, lock);
    installExitHook();
    removeOrphanTemps(lock.file, canonical);
    return lock;
  } catch (err) {
    held.delete(canonical);
    throw err;
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Backstop for a thread that exits without closing; only sync calls work here.
  process.on('exit', () => {
    for (const lock of held.values()) {
      try {
        if (lock) releaseSync(lock);
      } catch {
        // Exiting anyway; a leftover lock is detected as stale next time.
      }
    }
  });
}

export async function acquireLock(dbPath: string): Promise<LockHandle> {
  const lock = await runAsync(acquire(dbPath, undefined));
  let released = false;
  return {
    path: lock.file,
    file: lock.canonical,
    record: lock.raw,
    async release(): Promise<void> {
      if (released) return;
      released = true;
      releaseSync(lock);
    },
  };
}

/**
 * The lock a backup holds on its target while it writes it (worker threads
 * only: it may block briefly): no database is open there meanwhile, two
 * backups to one target never overlap, and temps left there by a killed
 * backup can be removed.
 */
export function lockBackupTarget(target: string): HeldLock & { release(): void } {
  const lock = runBlocking(acquire(target, 'backup'));
  return Object.assign(lock, { release: () => releaseSync(lock) });
}

/**
 * Throws ERR_EMDB_LOCKED when the file at `dbPath` is open here or by a live
 * holder elsewhere, under any name (a stale lock does not count). backupTo
 * checks it before it replaces a file: renaming over an open database would
 * leave that database writing to an unlinked file. Synchronous, so the backup
 * request that follows reaches the writer before anything the caller does next.
 */
export function assertNotOpen(dbPath: string): void {
  const canonical = canonicalPath(dbPath);
  if (held.has(canonical)) throw lockedError(canonical, 'it is open in this process');
  const key = registryKey(canonical);
  for (const [file, check] of [[`${canonical}.lock`, undefined], ...(key === undefined ? [] : [[identityFile(key), registryCheck(key)] as const])] as const) {
    const snap = readSnapshot(file);
    if (!snap) continue;
    const verdict = judge(snap, check);
    if (!verdict.stale) throw lockedError(canonical, verdict.message);
  }
}

/**
 * Who holds the lock, or undefined when there is no lock file; `stale` says
 * whether that holder is provably gone (judged as breakLock judges it), so a
 * tool that shows the holder does not present a dead process as the owner.
 */
export async function lockHolder(dbPath: string): Promise<LockInfo | undefined> {
  const file = `${canonicalPath(dbPath)}.lock`;
  for (let attempt = 0; ; attempt++) {
    const snap = readSnapshot(file);
    if (!snap) return undefined;
    const rec = parseRecord(snap.raw);
    if (rec) {
      const verdict = judge(snap);
      return { pid: rec.pid, hostname: rec.hostname, startedAt: rec.startedAt, stale: verdict.stale, checkable: verdict.checkable, detail: verdict.message };
    }
    // A holder may be between create and write; give it a moment before reporting garbage.
    if (attempt >= 5 || Date.now() - snap.mtimeMs > STALE_MS) {
      throw new EmdbError(ErrorCode.IO, `lock file ${file} has unreadable content; breakLock removes it once it is ${STALE_MS / 1000} s old`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function* breakFile(file: string, canonical: string, force: boolean, check?: IdentityCheck): Waiting<void> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const snap = readSnapshot(file);
    if (!snap) return;
    const verdict = judge(snap, check);
    // force never removes a holder this host sees running: only one it cannot check.
    if (!verdict.stale && !(force && !verdict.checkable)) throw lockedError(canonical, verdict.message);
    if (yield* breakStale(file, canonical, snap, check, force)) return;
  }
  throw lockedError(canonical, `lock file kept changing over ${MAX_ATTEMPTS} attempts`);
}

/**
 * Removes the lock (and the file's registry record) only when its holder is
 * provably gone; a live (or unknowable) holder -> LOCKED. `force` also
 * removes a holder that cannot be checked from here (another host, PID
 * namespace or boot, an old record): the operator vouches that it is gone.
 */
export async function breakLock(dbPath: string, force = false): Promise<void> {
  const canonical = canonicalPath(dbPath);
  const key = registryKey(canonical);
  await runAsync(breakFile(`${canonical}.lock`, canonical, force));
  if (key !== undefined) await runAsync(breakFile(identityFile(key), canonical, force, registryCheck(key)));
}

