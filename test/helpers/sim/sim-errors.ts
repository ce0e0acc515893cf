/** Errors the simulated file system throws, and a FileIO wrapper for planted mutants. */
import type { FileIO } from '../../../dist/src/log/file-io.js';

/** Thrown by every call once the power is cut; never an fs error code the engine might handle. */
export class PowerCut extends Error {
  readonly code = 'EPOWERCUT';
  constructor() {
    super('simulated power cut');
  }
}

const ERRNO: Record<string, [number, string]> = {
  EIO: [5, 'i/o error'],
  ENOSPC: [28, 'no space left on device'],
  EROFS: [30, 'read-only file system'],
  ENOENT: [2, 'no such file or directory'],
  EEXIST: [17, 'file already exists'],
  EBADF: [9, 'bad file descriptor'],
  EISDIR: [21, 'illegal operation on a directory'],
  ENOTDIR: [20, 'not a directory'],
};

/** An error shaped like node:fs's: message "CODE: description, syscall 'path'", errno, code, syscall, path. */
export function fsError(code: string, syscall: string, file?: string): NodeJS.ErrnoException {
  const [errno, text] = ERRNO[code] ?? [5, 'i/o error'];
  const err: NodeJS.ErrnoException = new Error(`${code}: ${text}, ${syscall}${file === undefined ? '' : ` '${file}'`}`);
  err.errno = -errno;
  err.code = code;
  err.syscall = syscall;
  if (file !== undefined) err.path = file;
  return err;
}

const FILE_IO_METHODS = ['open', 'close', 'size', 'read', 'write', 'fdatasync', 'ftruncate', 'rename', 'unlink', 'fsyncDir', 'exists', 'isDirectory', 'mkdirp'] as const;

/** A FileIO that forwards to `io` except for the overridden methods (planted mutants). */
export function overrideIO(io: FileIO, overrides: Partial<FileIO>): FileIO {
  const out = {} as Record<string, unknown>;
  for (const m of FILE_IO_METHODS) out[m] = overrides[m] ?? (io[m] as (...a: unknown[]) => unknown).bind(io);
  return out as unknown as FileIO;
}

/** Planted mutant of the compaction suites: the temp file `<path>.compact` is never synced (its fdatasyncs do nothing). */
export function withoutCompactTempSync(sim: FileIO): FileIO {
  const tempFds = new Set<number>();
  return overrideIO(sim, {
    open: (file, flags) => {
      const fd = sim.open(file, flags);
      if (file.endsWith('.compact')) tempFds.add(fd);
      return fd;
    },
    fdatasync: (fd) => (tempFds.has(fd) ? undefined : sim.fdatasync(fd)),
  });
}
