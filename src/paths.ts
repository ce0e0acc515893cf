import os from 'node:os';
import path from 'node:path';
import { EmdbError, ErrorCode } from './errors.js';

/** The location half of OpenOptions: either an explicit `path`, or the app/database/root triple. */
export interface PathOptions {
  path?: string;
  appName?: string;
  databaseName?: string;
  dataRoot?: string;
}

const DEFAULT_APP_NAME = 'emdb';
const DEFAULT_DATABASE_NAME = 'emdb-default.emdb';

function invalid(message: string): EmdbError {
  return new EmdbError(ErrorCode.INVALID_CONFIG, message);
}

/**
 * The per-user data directory of the current platform. Read at call time (not
 * cached) so that environment changes, and tests that simulate other
 * platforms, are honoured.
 */
export function defaultDataRoot(): string {
  const home = os.homedir();
  if (process.platform === 'darwin') return path.join(home, 'Library', 'Application Support');
  if (process.platform === 'win32') {
    const local = process.env.LOCALAPPDATA;
    return local ? local : path.join(home, 'AppData', 'Local');
  }
  // The XDG spec says relative values are invalid and must be ignored.
  const xdg = process.env.XDG_DATA_HOME;
  return xdg && path.isAbsolute(xdg) ? xdg : path.join(home, '.local', 'share');
}

/**
 * appName and databaseName must each name exactly one directory entry, so a
 * value can never climb out of (or reach past) the data root.
 */
function checkName(what: string, name: unknown): string {
  if (typeof name !== 'string' || name === '') throw invalid(`${what} must be a non-empty string`);
  if (name === '.' || name === '..') throw invalid(`${what} must not be '.' or '..' (got ${JSON.stringify(name)})`);
  if (/[\\/]/.test(name)) throw invalid(`${what} must be a single name without '/' or '\\' (got ${JSON.stringify(name)})`);
  if (name.includes('\0')) throw invalid(`${what} must not contain NUL characters`);
  return name;
}

/**
 * Resolves where the database file lives. Pure: it never touches the file
 * system, so callers decide when (and whether) to create directories.
 */
export function resolveDatabasePath(opts: PathOptions): string {
  if (opts.path !== undefined) {
    const mixed = (['appName', 'databaseName', 'dataRoot'] as const).filter((k) => opts[k] !== undefined);
    if (mixed.length > 0) {
      throw invalid(`path cannot be combined with ${mixed.join('/')}: give either path or appName/databaseName/dataRoot`);
    }
    if (typeof opts.path !== 'string' || opts.path === '') throw invalid('path must be a non-empty string');
    if (opts.path.includes('\0')) throw invalid('path must not contain NUL characters');
    refuseDirectoryForm(opts.path, 'path');
    return path.resolve(opts.path);
  }
  const appName = checkName('appName', opts.appName ?? DEFAULT_APP_NAME);
  const databaseName = checkName('databaseName', opts.databaseName ?? DEFAULT_DATABASE_NAME);
  let root: unknown = opts.dataRoot;
  if (root === undefined) root = defaultDataRoot();
  else if (typeof root !== 'string' || root === '') throw invalid('dataRoot must be a non-empty string');
  else if (root.includes('\0')) throw invalid('dataRoot must not contain NUL characters');
  // resolve (not join) so a relative dataRoot still yields an absolute path, like `path` does.
  return path.resolve(root as string, appName, databaseName);
}

/** Validates a backupTo target and makes it absolute; pure, like resolveDatabasePath. */
export function resolveBackupTarget(target: unknown): string {
  if (typeof target !== 'string' || target === '') throw invalid('backupTo takes a non-empty path string');
  if (target.includes('\0')) throw invalid('backup path must not contain NUL characters');
  refuseDirectoryForm(target, 'backup path');
  return path.resolve(target);
}

/**
 * A database is one file: a path written as a directory ('data/', 'data/.')
 * would be resolved to a file named 'data', which is not what its writer
 * meant; refused instead (name the file inside the directory).
 */
function refuseDirectoryForm(p: string, what: string): void {
  if (p.endsWith('/') || p.endsWith(path.sep) || p === '.' || p === '..' || p.endsWith('/.') || p.endsWith('/..')) {
    throw invalid(`${what} ${JSON.stringify(p)} names a directory; give the database file's path inside it (e.g. ${JSON.stringify(path.join(p, 'app.emdb'))})`);
  }
}
