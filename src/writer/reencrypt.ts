/**
 * The offline rewrite behind Emdb.enableEncryption / disableEncryption /
 * rotateEncryptionKey (docs/FORMAT.md, "Encryption"): the live records of the
 * open (and locked) log are written into `<path>.rekey` under the new
 * protection, synced, and renamed over the log in ONE atomic rename, then the
 * directory is synced. A crash at any step leaves the old file (openable with
 * the old key) or the new one (openable with the new key), never neither.
 */
import { randomBytes } from '../crypto/node-crypto.js';
import { ioError } from '../errors.js';
import { PRELUDE, PRELUDE_SIZE } from '../format/constants.js';
import { sealPrelude } from '../format/header.js';
import { dirOf, readFully, writeFully, type FileIO } from '../log/file-io.js';
import type { LogState } from '../log/log-state.js';
import { DbKeys, type EncryptionSpec } from '../crypto/keys.js';
import { LogCrypt } from '../log/log-crypt.js';
import { writeCompactedFile } from './compactor.js';
import { snapshotPath } from '../format/snapshot.js';

export function rekeyPath(file: string): string {
  return `${file}.rekey`;
}

export function encbakPath(file: string): string {
  return `${file}.encbak`;
}

/**
 * The prelude of the rewritten file: the old one's creation time and value
 * encoding, every encryption field cleared, then (`to`) new salts, KDF
 * parameters and key check. Returns it with the new keys.
 */
function newPrelude(old: Uint8Array, to: EncryptionSpec | undefined): { prelude: Uint8Array; keys: DbKeys | undefined } {
  const prelude = old.slice(0, PRELUDE_SIZE);
  const dv = new DataView(prelude.buffer);
  dv.setUint32(PRELUDE.FLAGS, 0, true);
  prelude.fill(0, PRELUDE.CIPHER_ID, PRELUDE.CREATED_AT);
  prelude.fill(0, PRELUDE.RECORD_SCHEME, PRELUDE.RESERVED_TAIL);
  const keys = to ? DbKeys.create(prelude, to) : undefined;
  sealPrelude(prelude);
  return { prelude, keys };
}

export interface RekeyJob {
  io: FileIO;
  file: string;
  fd: number;
  state: LogState;
  to: EncryptionSpec | undefined;
  keepBackup: boolean;
  /** The database clock: records whose deadline passed by it are dropped, as in compact(). */
  now: number;
}

export function rewriteProtection(job: RekeyJob): void {
  const { io, file, state } = job;
  const { prelude, keys } = newPrelude(state.mirror.slice(0, PRELUDE_SIZE), job.to);
  const fileId = randomBytes(16);
  const crypt = keys && new LogCrypt(keys, fileId);
  const tmp = rekeyPath(file);
  // Writes the temp file and fdatasyncs it (removed again on failure).
  writeCompactedFile(io, tmp, state, job.now, fileId, crypt, prelude, file);
  try {
    if (job.keepBackup) copyFile(io, job.fd, encbakPath(file), file);
    // The old index snapshot (a plaintext one when enabling) must not outlive the old file.
    for (const f of [snapshotPath(file), `${snapshotPath(file)}.tmp`]) if (io.exists(f)) io.unlink(f);
    io.rename(tmp, file);
    io.fsyncDir(dirOf(file));
  } catch (err) {
    try {
      if (io.exists(tmp)) io.unlink(tmp);
    } catch {
      // the rewrite error is the one to report; the next open removes the orphan
    }
    throw ioError('encryption rewrite', err);
  }
}

/** A synced copy of the old log, for `{ keepBackup: true }`. */
function copyFile(io: FileIO, fd: number, target: string, dbFile: string): void {
  if (io.exists(target)) io.unlink(target);
  const out = io.open(target, 'wx', dbFile);
  try {
    const size = io.size(fd);
    const chunk = new Uint8Array(Math.min(size, 4 << 20));
    for (let at = 0; at < size; ) {
      const n = readFully(io, fd, chunk, 0, Math.min(chunk.length, size - at), at);
      writeFully(io, out, chunk, 0, n, at);
      at += n;
    }
    io.fdatasync(out);
  } finally {
    io.close(out);
  }
}
