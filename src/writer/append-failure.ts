import { ioError, type EmdbError } from '../errors.js';
import type { FileIO } from '../log/file-io.js';

/** Errors that mean "no room", not "the device lost data". */
const FULL_DISK_CODES = new Set(['ENOSPC', 'EDQUOT']);

/**
 * A full disk is the one append failure that need not poison the engine. The
 * append wrote file first and would have touched the index and nextLsn only
 * after the write returned, so nothing of the batch is indexed or acknowledged:
 * cutting the file back to `lsn` removes every partial byte (mirror bytes past
 * nextLsn are unreachable and the next append overwrites them).
 *
 * Returns the error to report when the rollback worked, or undefined when the
 * error is not a full disk or the cut itself failed; the caller then poisons,
 * because a torn tail may be left in front of the next append.
 */
export function rollBackFullDisk(io: FileIO, fd: number, lsn: number, err: unknown): EmdbError | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !FULL_DISK_CODES.has(code)) return undefined;
  try {
    io.ftruncate(fd, lsn);
  } catch {
    return undefined;
  }
  return ioError('write', err);
}
