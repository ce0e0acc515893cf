import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EmdbError, ErrorCode, ioError } from '../errors.js';
import { errCode, type IdentityCheck } from './record.js';

/**
 * A file's identity, as opposed to its names. Two spellings of one database
 * reach the same lock through `canonicalPath` (symlinks resolved, also a
 * dangling last link, since the file may not exist yet); hard links, which no
 * path resolution unifies, meet in a host-wide registry of lock records keyed
 * by (st_dev, st_ino).
 */

const MAX_LINK_HOPS = 40;

/** realpath of the deepest existing ancestor, with the missing rest appended. */
function realDir(dir: string): string {
  try {
    return fs.realpathSync.native(dir);
  } catch (err) {
    const parent = path.dirname(dir);
    if (errCode(err) !== 'ENOENT' || parent === dir) throw ioError(`resolving ${dir}`, err);
    return path.join(realDir(parent), path.basename(dir));
  }
}

/** The absolute path of the file `p` names, every symlink (also one to a missing file) followed. */
export function canonicalPath(p: string): string {
  let current = path.resolve(p);
  for (let hop = 0; hop < MAX_LINK_HOPS; hop++) {
    current = path.join(realDir(path.dirname(current)), path.basename(current));
    let target: string;
    try {
      target = fs.readlinkSync(current);
    } catch (err) {
      // ENOENT: nothing there yet; EINVAL (UNKNOWN on Windows): not a link.
      if (['ENOENT', 'EINVAL', 'UNKNOWN', 'ENOTDIR'].includes(errCode(err) ?? '')) return current;
      throw ioError(`resolving ${current}`, err);
    }
    current = path.resolve(path.dirname(current), target);
  }
  throw new EmdbError(ErrorCode.INVALID_CONFIG, `${p}: more than ${MAX_LINK_HOPS} levels of symbolic links`);
}

/** `<dev>-<ino>` of the file at `file` (following links), or undefined when there is none. */
export function identityKey(file: string): string | undefined {
  try {
    const st = fs.statSync(file, { bigint: true });
    return st.isFile() ? `${st.dev}-${st.ino}` : undefined;
  } catch (err) {
    if (errCode(err) === 'ENOENT' || errCode(err) === 'ENOTDIR') return undefined;
    throw ioError(`stat of ${file}`, err);
  }
}

/** The registry directory; null once found unusable (no writable temp directory). */
let registry: string | null | undefined;

/**
 * The per-user registry directory. On POSIX it is under the fixed `/tmp`, not
 * `$TMPDIR`, so processes started with different environments still meet;
 * mode 0700 and owned by us, else refused (another user could otherwise plant
 * or remove our records). One registry per user: two users opening one file
 * through hard links are not detected (README, lock section). Undefined when
 * no temp directory is writable (a read-only root file system without a
 * writable /tmp or TMPDIR): the path lock still excludes a second writer, so
 * the open goes on without hard-link detection, and a process warning says so.
 */
export function registryDir(): string | undefined {
  if (registry !== undefined) return registry ?? undefined;
  const posix = process.platform !== 'win32';
  const uid = posix ? process.geteuid!() : undefined;
  const name = `emdb-js-locks-${uid ?? os.userInfo().username}`;
  // A sandbox may forbid /tmp itself but give a private TMPDIR: then that one.
  const bases = posix && fs.existsSync('/tmp') ? ['/tmp', os.tmpdir()] : [os.tmpdir()];
  let lastError: unknown;
  for (const base of [...new Set(bases)]) {
    const dir = path.join(base, name);
    try {
      fs.mkdirSync(dir, { mode: 0o700 });
    } catch (err) {
      if (errCode(err) !== 'EEXIST') {
        lastError = err;
        continue;
      }
    }
    if (posix) {
      const st = fs.lstatSync(dir);
      if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o077) !== 0) {
        throw new EmdbError(ErrorCode.IO, `the lock registry ${dir} is not a private directory of this user (uid ${st.uid}, mode ${(st.mode & 0o777).toString(8)}); remove it`);
      }
    }
    registry = dir;
    return dir;
  }
  registry = null;
  process.emitWarning(
    `emdb-js: cannot create the lock registry ${name} under ${bases.join(' or ')} (${errCode(lastError) ?? String(lastError)}); ` +
      'databases are still locked by <path>.lock, but the same file opened through a hard link is not detected. Give the process a writable /tmp or TMPDIR.',
    { code: 'EMDB_LOCK_REGISTRY_UNAVAILABLE' },
  );
  return undefined;
}

/** identityKey, or undefined when there is no registry to file it in (registryDir): the lock then has no identity record. */
export function registryKey(file: string): string | undefined {
  return registryDir() === undefined ? undefined : identityKey(file);
}

/** The registry record of identity `key` (a key from registryKey, so the registry exists). */
export function identityFile(key: string): string {
  const dir = registryDir();
  if (dir === undefined) throw new EmdbError(ErrorCode.IO, 'no lock registry (registryKey gave a key without one)');
  return path.join(dir, `${key}.lock`);
}

/**
 * How a registry record filed under `key` is judged: it speaks of this file only
 * while the path it names still has that identity (an inode is reused by the
 * next file created once the old one is deleted).
 */
export function registryCheck(key: string): IdentityCheck {
  return { key, keyOf: (file) => safeIdentityKey(file) };
}

/** identityKey, with an unreadable path counted as not this file. */
function safeIdentityKey(file: string): string | undefined {
  try {
    return identityKey(file);
  } catch {
    return undefined;
  }
}
