/**
 * Small real file systems for the disk-full and failed-fsync tiers: a
 * size-limited tmpfs, and a "thin" ext4 (a sparse 64 MiB image on a small tmpfs,
 * loop-mounted) whose block device starts failing writes once the tmpfs under
 * it is full, so writeback and fdatasync fail for real. Both need root; where
 * mounting is refused the caller skips with the reason this module reports.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Mount {
  dir: string;
  unmount(): void;
}

export interface ThinExt4 extends Mount {
  /** The tmpfs holding the image: fill or free it to starve or feed the device. */
  backing: string;
  /** Unmount and mount the ext4 again: drops its page cache and replays its journal. */
  remount(): void;
}

function run(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function describeFailure(err: unknown): string {
  const e = err as { stderr?: Buffer; message?: string };
  return (e.stderr?.toString().trim() || e.message || String(err)).split('\n')[0]!;
}

function mountPoint(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function mountTmpfs(sizeBytes: number): Mount {
  const dir = mountPoint('emdb-tmpfs-');
  run('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', dir]);
  return { dir, unmount: () => unmountAndRemove(dir) };
}

function unmountAndRemove(dir: string): void {
  try {
    run('umount', [dir]);
  } catch {
    // Busy (a failed test left a database open): detach now, freed when the last fd closes.
    run('umount', ['-l', dir]);
  }
  fs.rmdirSync(dir);
}

/** Why a tmpfs cannot be mounted here, or undefined when it can (tried with a 1 MiB one). */
export function tmpfsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `tmpfs mounts are Linux-only (platform ${process.platform})`;
  try {
    mountTmpfs(1 << 20).unmount();
    return undefined;
  } catch (err) {
    return `mount -t tmpfs refused: ${describeFailure(err)}`;
  }
}

export function mountThinExt4(backingBytes: number, imageBytes: number): ThinExt4 {
  const backing = mountTmpfs(backingBytes);
  const image = path.join(backing.dir, 'ext4.img');
  const dir = mountPoint('emdb-ext4-');
  try {
    fs.closeSync(fs.openSync(image, 'w'));
    fs.truncateSync(image, imageBytes);
    // A journal makes fsync durable on ext4 and turns a failed device write into EIO at fdatasync.
    run('mkfs.ext4', ['-q', '-F', '-J', 'size=1', '-E', 'nodiscard,lazy_itable_init=1', image]);
    run('mount', ['-o', 'loop', image, dir]);
  } catch (err) {
    fs.rmdirSync(dir);
    backing.unmount();
    throw err;
  }
  return {
    dir,
    backing: backing.dir,
    remount: () => {
      run('umount', [dir]);
      run('mount', ['-o', 'loop', image, dir]);
    },
    unmount: () => {
      try {
        unmountAndRemove(dir);
      } finally {
        backing.unmount();
      }
    },
  };
}

/** Why a loop-mounted ext4 on a tmpfs cannot be built here, or undefined when it can. */
export function thinExt4Unavailable(): string | undefined {
  const tmpfs = tmpfsUnavailable();
  if (tmpfs) return tmpfs;
  try {
    mountThinExt4(4 << 20, 16 << 20).unmount();
    return undefined;
  } catch (err) {
    return `loop-mounted ext4 refused: ${describeFailure(err)}`;
  }
}

/** Why device-mapper (dm-error / dm-flakey) cannot be used here, or undefined. */
export function deviceMapperUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'device-mapper is Linux-only';
  try {
    run('dmsetup', ['version']);
    return undefined;
  } catch (err) {
    return `dmsetup cannot reach the kernel: ${describeFailure(err)}`;
  }
}

/** Free bytes of the file system holding `dir`. */
export function freeBytes(dir: string): number {
  const s = fs.statfsSync(dir);
  return s.bavail * s.bsize;
}

/** Writes a file of incompressible bytes that takes `bytes` of space. */
export function writeBallast(file: string, bytes: number): void {
  const fd = fs.openSync(file, 'w');
  try {
    const chunk = Buffer.alloc(1 << 20);
    for (let done = 0; done < bytes; ) {
      const n = Math.min(chunk.length, bytes - done);
      for (let i = 0; i < n; i += 4) chunk.writeUInt32LE((Math.random() * 0xffffffff) >>> 0, i);
      fs.writeSync(fd, chunk, 0, n);
      done += n;
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
