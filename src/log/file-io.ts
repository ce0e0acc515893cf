import fs from 'node:fs';
import path from 'node:path';

/**
 * Every file-system call the engine makes goes through this interface, so the
 * reliability suite can substitute a simulation that drops unsynced writes or
 * injects EIO/ENOSPC. Synchronous on purpose: it runs on the writer's own thread,
 * where blocking costs nobody and skips the libuv thread-pool round trip.
 */
export interface FileIO {
  /**
   * `like` (with 'wx'): the file the new one replaces or accompanies (the
   * database, for a compaction temp, an index snapshot, a rewrite or a
   * backup): the new file takes its permission bits and, when running as root,
   * its owner, so an operator's chmod 600 survives and an admin command run as
   * root leaves no root-owned file the service cannot open. Best effort.
   */
  open(file: string, flags: 'r' | 'r+' | 'wx' | 'r+dsync', like?: string): number;
  close(fd: number): void;
  size(fd: number): number;
  read(fd: number, buf: Uint8Array, bufOffset: number, len: number, position: number): number;
  write(fd: number, buf: Uint8Array, bufOffset: number, len: number, position: number): number;
  fdatasync(fd: number): void;
  /**
   * fdatasync on the thread pool (optional): compaction syncs its temp file
   * this way while the writer keeps serving writes. Without it, it syncs inline.
   */
  fdatasyncAsync?(fd: number, done: (err: Error | null) => void): void;
  ftruncate(fd: number, len: number): void;
  rename(from: string, to: string): void;
  unlink(file: string): void;
  fsyncDir(dir: string): void;
  exists(file: string): boolean;
  isDirectory(file: string): boolean;
  mkdirp(dir: string): void;
  /** Names in `dir`; optional (test doubles may lack it): only used to find orphan temp files. */
  list?(dir: string): string[];
  /** Bytes an unprivileged writer may still use on the file system of `file`; optional (test doubles may lack it): only sizes preallocation. */
  freeBytes?(file: string): number;
  /**
   * True when a descriptor this returns can be read by other threads with
   * fs.readSync (real descriptors: threads share the process's table). A lazily
   * opened log needs it (shm/lazy-pages.ts); a simulated file system opens
   * every log whole instead.
   */
  sharedDescriptors?: boolean;
}

const OPEN_FLAGS = {
  r: fs.constants.O_RDONLY,
  'r+': fs.constants.O_RDWR,
  wx: fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL,
  // O_DSYNC: each write is durable when it returns (flushPolicy writeThrough).
  'r+dsync': fs.constants.O_RDWR | (fs.constants.O_DSYNC ?? fs.constants.O_SYNC),
} as const;

/**
 * Gives the new file `fd` the mode of `like` and, as root, its owner (before the
 * rename makes it visible). Best effort: `like` may be gone, or the file system
 * may not keep owners; the file then keeps what creation gave it.
 */
function takeOwnerAndMode(fd: number, like: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(like);
  } catch {
    return;
  }
  try {
    if (process.geteuid?.() === 0) fs.fchownSync(fd, st.uid, st.gid);
  } catch {
    // e.g. a file system without owners, or a user namespace without that uid
  }
  try {
    fs.fchmodSync(fd, st.mode & 0o7777);
  } catch {
    // as above
  }
}

export const nodeFileIO: FileIO = {
  sharedDescriptors: true,
  open: (file, flags, like) => {
    const fd = fs.openSync(file, OPEN_FLAGS[flags], 0o644);
    if (like !== undefined && flags === 'wx') takeOwnerAndMode(fd, like);
    return fd;
  },
  close: (fd) => fs.closeSync(fd),
  size: (fd) => fs.fstatSync(fd).size,
  read: (fd, buf, off, len, pos) => fs.readSync(fd, buf, off, len, pos),
  write: (fd, buf, off, len, pos) => fs.writeSync(fd, buf, off, len, pos),
  fdatasync: (fd) => fs.fdatasyncSync(fd),
  fdatasyncAsync: (fd, done) => fs.fdatasync(fd, done),
  ftruncate: (fd, len) => fs.ftruncateSync(fd, len),
  rename: (from, to) => fs.renameSync(from, to),
  unlink: (file) => fs.unlinkSync(file),
  fsyncDir: (dir) => {
    // Directories cannot be fsynced on Windows; there rename durability is the OS's.
    if (process.platform === 'win32') return;
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  },
  exists: (file) => fs.existsSync(file),
  isDirectory: (file) => {
    try {
      return fs.statSync(file).isDirectory();
    } catch {
      return false;
    }
  },
  mkdirp: (dir) => void fs.mkdirSync(dir, { recursive: true }),
  list: (dir) => fs.readdirSync(dir),
  freeBytes: (file) => {
    const s = fs.statfsSync(file);
    return s.bavail * s.bsize;
  },
};

/** Reads exactly `len` bytes (loops over short reads); returns bytes read before EOF. */
export function readFully(io: FileIO, fd: number, buf: Uint8Array, off: number, len: number, pos: number): number {
  let done = 0;
  while (done < len) {
    const n = io.read(fd, buf, off + done, len - done, pos + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** Writes all `len` bytes (loops over short writes). */
export function writeFully(io: FileIO, fd: number, buf: Uint8Array, off: number, len: number, pos: number): void {
  let done = 0;
  while (done < len) {
    const n = io.write(fd, buf, off + done, len - done, pos + done);
    if (n <= 0) throw Object.assign(new Error('short write made no progress'), { code: 'EIO' });
    done += n;
  }
}

/**
 * mkdir -p whose result survives a power loss: a directory's entry lives in its
 * parent, so the parent of every directory on the path is fsynced, not only of
 * those made here (an earlier attempt may have made them and died, or failed,
 * before syncing). An ancestor this process may not open was not made by it.
 */
export function mkdirDurable(io: FileIO, dir: string): void {
  io.mkdirp(dir);
  for (let d = path.resolve(dir); path.dirname(d) !== d; d = path.dirname(d)) {
    try {
      io.fsyncDir(path.dirname(d));
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== 'EACCES' && code !== 'EPERM') throw err;
    }
  }
}

export function dirOf(file: string): string {
  return path.dirname(path.resolve(file));
}
