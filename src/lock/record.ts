import fs from 'node:fs';
import os from 'node:os';
import { threadId } from 'node:worker_threads';
import { bootTimeMs, pidScope } from './host.js';

/** Who took a lock: the fields every lock record has. */
export interface LockOwner {
  pid: number;
  hostname: string;
  startedAt: string;
}

/** What lockHolder reports. */
export interface LockInfo extends LockOwner {
  /**
   * True when the holder is provably gone (this host, and its process or
   * thread has ended or its pid was reused): the lock is left over, and the
   * next open, or breakLock, removes it. False for a live holder, and for one
   * on another host, which cannot be probed from here.
   */
  stale: boolean;
  /**
   * False when the holder cannot be checked from here: another host, another
   * PID namespace (another container) or boot, or a record written without
   * them (emdb-js 0.2.0 and earlier). Such a lock is never broken by itself;
   * `breakLock(path, { force: true })` removes it once the operator knows
   * the holder is gone.
   */
  checkable: boolean;
  /** The judgement in words ("held by pid 7 on app-1 ... in another PID namespace"). */
  detail: string;
}

/** The JSON content of a lock file (and of an identity record in the host-wide registry). */
export interface LockRecord extends LockOwner {
  /** Field 22 of /proc/<pid>/stat: tells a reused pid from the original holder. */
  procStart?: number;
  /**
   * The OS thread id of the holding thread and its start time (Linux): a lock
   * taken by a worker thread is stale once that thread has ended, even though
   * its process lives on. Node's `threadId` only names it in messages.
   */
  tid?: number;
  tidStart?: number;
  thread?: number;
  /** The database file the lock is for, symlinks resolved (identity records name it). */
  path?: string;
  /** 'backup' while a backup is being written to that path. */
  use?: 'backup';
  /** The holder's PID namespace and boot (Linux; lock/host.ts): its pid is only checked from the same ones. */
  pidNs?: string;
  bootId?: string;
}

/** What was read from a lock file, identifying it well enough to unlink only that exact file. */
export interface Snapshot {
  raw: string;
  dev: number;
  ino: number;
  mtimeMs: number;
}

/** For a registry record: the identity key it is filed under, and how to compute a path's current key. */
export interface IdentityCheck {
  key: string;
  keyOf: (file: string) => string | undefined;
}

export interface Verdict {
  stale: boolean;
  message: string;
  /** False: whether the holder runs cannot be checked from here (LockInfo.checkable). */
  checkable: boolean;
}

/** Below this age an unparseable lock file may be a holder between create and write. */
export const STALE_MS = 10_000;

export function errCode(err: unknown): string | undefined {
  return (err as { code?: string } | null)?.code;
}

/** Field 22 (starttime) of a /proc stat file; undefined when it cannot be read. */
function startTimeOf(statFile: string): number | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(statFile, 'utf8');
  } catch {
    return undefined;
  }
  // comm (field 2) may contain spaces and ')', so count fields from its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const value = Number(fields[22 - 3]);
  return Number.isSafeInteger(value) ? value : undefined;
}

export function procStartOf(pid: number): number | undefined {
  return startTimeOf(`/proc/${pid}/stat`);
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: the process exists but belongs to another user.
    return errCode(err) === 'EPERM';
  }
  // A killed process whose parent has not reaped it yet (a zombie, state Z, or X while it is
  // being reaped) still answers signal 0, but it holds no file and never runs again: its lock is stale.
  return !isZombie(pid);
}

/** True when /proc says `pid` has exited and waits to be reaped; false when it cannot tell (no /proc). */
function isZombie(pid: number): boolean {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  // Field 3, after comm (which may contain spaces and ')').
  const state = stat.charAt(stat.lastIndexOf(')') + 2);
  return state === 'Z' || state === 'X';
}

let self: { tid: number; tidStart: number } | null | undefined;

/**
 * This thread's OS thread id, from /proc/thread-self (Linux 3.17+). A sync fs
 * call runs on the calling thread, so the link names the JS thread itself.
 * Module state is per thread, so the cache is too. null where unavailable.
 */
function threadSelf(): { tid: number; tidStart: number } | null {
  if (self !== undefined) return self;
  self = null;
  try {
    const m = /^(\d+)\/task\/(\d+)$/.exec(fs.readlinkSync('/proc/thread-self'));
    if (m && Number(m[1]) === process.pid) {
      const tid = Number(m[2]);
      const tidStart = startTimeOf(`/proc/${process.pid}/task/${tid}/stat`);
      if (tidStart !== undefined) self = { tid, tidStart };
    }
  } catch {
    // Not Linux, or /proc not mounted: records carry no thread and a live pid stays a live holder.
  }
  return self;
}

/** The record this thread writes into the lock files it takes. */
export function newRecord(fields: Pick<LockRecord, 'path' | 'use'>): string {
  const record: LockRecord = { pid: process.pid, hostname: os.hostname(), startedAt: new Date().toISOString() };
  const procStart = procStartOf(process.pid);
  if (procStart !== undefined) record.procStart = procStart;
  const me = threadSelf();
  if (me) Object.assign(record, me, { thread: threadId });
  Object.assign(record, pidScope(), fields);
  return `${JSON.stringify(record)}\n`;
}

export function parseRecord(raw: string): LockRecord | undefined {
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
  for (const k of ['procStart', 'tid', 'tidStart', 'thread'] as const) {
    if (r[k] !== undefined && !Number.isSafeInteger(r[k])) return undefined;
  }
  for (const k of ['pidNs', 'bootId'] as const) {
    if (r[k] !== undefined && typeof r[k] !== 'string') return undefined;
  }
  return r as LockRecord;
}

/**
 * True only when the holding thread provably ended: its process is visible
 * in /proc (hidepid or another OS would hide it) and the thread is not among
 * its tasks, or that tid now belongs to a thread started at another time.
 */
function threadGone(rec: LockRecord): boolean {
  if (rec.tid === undefined || rec.tid === rec.pid) return false; // main thread: the pid test decides
  if (!fs.existsSync(`/proc/${rec.pid}/stat`)) return false;
  let start: number | undefined;
  try {
    start = startTimeOf(`/proc/${rec.pid}/task/${rec.tid}/stat`);
    if (start === undefined) return !fs.existsSync(`/proc/${rec.pid}/task/${rec.tid}`);
  } catch {
    return false;
  }
  return rec.tidStart !== undefined && start !== rec.tidStart;
}

export function describeHolder(rec: LockRecord): string {
  const thread = rec.thread !== undefined && rec.thread !== 0 ? ` (worker thread ${rec.thread})` : '';
  const what = rec.use === 'backup' ? 'a backup being written by ' : '';
  return `${what}pid ${rec.pid}${thread} on ${rec.hostname} since ${rec.startedAt}`;
}

/** What an operator can do about a holder this host cannot check. */
const FORCE_HINT = 'if you are sure that process is gone, `npx emdb-js break-lock --force PATH` removes the lock';

/** Slack for btime (second resolution, shifted by clock steps) against a record's start time. */
const BOOT_SLACK_MS = 5_000;

/**
 * Whether the holder's pid can be tested here: same PID namespace and boot.
 * Returns the verdict when it cannot (a lock taken before this host booted is
 * stale whatever else is true), undefined when the pid test decides.
 */
function judgeScope(rec: LockRecord, who: string): Verdict | undefined {
  const here = pidScope();
  const taken = Date.parse(rec.startedAt);
  const boot = bootTimeMs();
  const beforeBoot = boot !== undefined && Number.isFinite(taken) && taken < boot - BOOT_SLACK_MS;
  const unknowable = (why: string): Verdict =>
    beforeBoot ? { stale: true, checkable: true, message: `holder ${who} took it before this host last booted` } : { stale: false, checkable: false, message: `held by ${who}, ${why}; ${FORCE_HINT}` };
  if (rec.bootId !== undefined && here.bootId !== undefined && rec.bootId !== here.bootId) {
    return unknowable(`which ran under another boot id (another machine with this hostname): it cannot be checked from here`);
  }
  // Without /proc on either side (macOS, Windows) there are no PID namespaces to tell apart.
  if (rec.pidNs === undefined && here.pidNs === undefined) return undefined;
  if (rec.pidNs === undefined) {
    // Conservative: a record without its namespace (emdb-js 0.2.0 and earlier) may come from another container.
    return unknowable('recorded without its PID namespace (emdb-js 0.2.0 or earlier): it may run in another container, where it cannot be checked from here');
  }
  if (rec.pidNs !== here.pidNs) {
    return unknowable(`in another PID namespace (${rec.pidNs}, this process: ${here.pidNs ?? 'unknown'}), i.e. another container: its pid cannot be checked from here`);
  }
  return undefined;
}

export function judge(snap: Snapshot, identity?: IdentityCheck): Verdict {
  const rec = parseRecord(snap.raw);
  if (!rec) {
    const age = Date.now() - snap.mtimeMs;
    return age > STALE_MS
      ? { stale: true, checkable: true, message: `unreadable lock file, ${Math.round(age / 1000)} s old` }
      : { stale: false, checkable: true, message: 'lock file is being written by another process' };
  }
  // A registry record is keyed by (st_dev, st_ino), and a deleted file's inode
  // is reused by the next file created: a record whose file no longer has that
  // identity (gone, or replaced) speaks of another file, whoever holds it.
  if (identity && rec.path !== undefined && identity.keyOf(rec.path) !== identity.key) {
    return { stale: true, checkable: true, message: `the registry record names ${rec.path}, which is no longer this file` };
  }
  const who = describeHolder(rec);
  // We cannot probe processes on another machine (shared/network file system).
  if (rec.hostname !== os.hostname()) {
    return { stale: false, checkable: false, message: `held by ${who}, another host: it cannot be checked from here; ${FORCE_HINT}` };
  }
  const scoped = judgeScope(rec, who);
  if (scoped) return scoped;
  if (!pidAlive(rec.pid)) return { stale: true, checkable: true, message: `holder ${who} is gone` };
  if (rec.procStart !== undefined) {
    const now = procStartOf(rec.pid);
    if (now !== undefined && now !== rec.procStart) return { stale: true, checkable: true, message: `pid ${rec.pid} was reused` };
  }
  if (threadGone(rec)) return { stale: true, checkable: true, message: `the thread of ${who} has ended` };
  return { stale: false, checkable: true, message: `held by ${who}` };
}
