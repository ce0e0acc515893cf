import fs from 'node:fs';
import os from 'node:os';
import { threadId } from 'node:worker_threads';

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
  Object.assign(record, fields);
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

export function judge(snap: Snapshot, identity?: IdentityCheck): Verdict {
  const rec = parseRecord(snap.raw);
  if (!rec) {
    const age = Date.now() - snap.mtimeMs;
    return age > STALE_MS
      ? { stale: true, message: `unreadable lock file, ${Math.round(age / 1000)} s old` }
      : { stale: false, message: 'lock file is being written by another process' };
  }
  // A registry record is keyed by (st_dev, st_ino), and a deleted file's inode
  // is reused by the next file created: a record whose file no longer has that
  // identity (gone, or replaced) speaks of another file, whoever holds it.
  if (identity && rec.path !== undefined && identity.keyOf(rec.path) !== identity.key) {
    return { stale: true, message: `the registry record names ${rec.path}, which is no longer this file` };
  }
  const who = describeHolder(rec);
  // We cannot probe processes on another machine (shared/network file system).
  if (rec.hostname !== os.hostname()) return { stale: false, message: `held by ${who} (another host; use breakLock on that host)` };
  if (!pidAlive(rec.pid)) return { stale: true, message: `holder ${who} is gone` };
  if (rec.procStart !== undefined) {
    const now = procStartOf(rec.pid);
    if (now !== undefined && now !== rec.procStart) return { stale: true, message: `pid ${rec.pid} was reused` };
  }
  if (threadGone(rec)) return { stale: true, message: `the thread of ${who} has ended` };
  return { stale: false, message: `held by ${who}` };
}
