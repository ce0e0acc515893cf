import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EmdbError, ErrorCode, ioError } from './errors.js';

export interface LockInfo {
  pid: number;
  hostname: string;
  startedAt: string;
}

export interface LockHandle {
  readonly path: string;
  release(): Promise<void>;
}

const held = new Set<string>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}

export async function lockHolder(dbPath: string): Promise<LockInfo | undefined> {
  try {
    return JSON.parse(fs.readFileSync(`${dbPath}.lock`, 'utf8')) as LockInfo;
  } catch {
    return undefined;
  }
}

export async function acquireLock(dbPath: string): Promise<LockHandle> {
  const file = `${dbPath}.lock`;
  if (held.has(file)) throw new EmdbError(ErrorCode.LOCKED, `${dbPath} is already open in this process`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx');
      fs.writeSync(fd, JSON.stringify({ pid: process.pid, hostname: os.hostname(), startedAt: new Date().toISOString() }));
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      held.add(file);
      let released = false;
      return {
        path: file,
        release: async () => {
          if (released) return;
          released = true;
          held.delete(file);
          fs.rmSync(file, { force: true });
        },
      };
    } catch (err) {
      if ((err as { code?: string }).code !== 'EEXIST') throw ioError('lock', err);
      const holder = await lockHolder(dbPath);
      if (holder && holder.hostname === os.hostname() && !alive(holder.pid)) {
        fs.rmSync(file, { force: true });
        continue;
      }
      throw new EmdbError(ErrorCode.LOCKED, `${dbPath} is locked by pid ${holder?.pid ?? '?'} on ${holder?.hostname ?? '?'}`);
    }
  }
  throw new EmdbError(ErrorCode.LOCKED, `${dbPath} is locked`);
}

export async function breakLock(dbPath: string): Promise<void> {
  const holder = await lockHolder(dbPath);
  if (!holder) return;
  if (holder.hostname !== os.hostname() || alive(holder.pid)) throw new EmdbError(ErrorCode.LOCKED, 'lock holder is alive');
  fs.rmSync(`${dbPath}.lock`, { force: true });
}
