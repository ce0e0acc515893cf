import os from 'node:os';
import path from 'node:path';
import { EmdbError, ErrorCode } from './errors.js';

export interface PathOptions {
  path?: string;
  appName?: string;
  databaseName?: string;
  dataRoot?: string;
}

export function defaultDataRoot(): string {
  const home = os.homedir();
  if (process.platform === 'darwin') return path.join(home, 'Library', 'Application Support');
  if (process.platform === 'win32') return process.env.LOCALAPPDATA || path.join(home, 'AppData', 'Local');
  const xdg = process.env.XDG_DATA_HOME;
  return xdg && path.isAbsolute(xdg) ? xdg : path.join(home, '.local', 'share');
}

function checkName(what: string, name: unknown): string {
  if (typeof name !== 'string' || name === '' || name === '.' || name === '..' || /[\\/\0]/.test(name)) {
    throw new EmdbError(ErrorCode.INVALID_CONFIG, `${what} must be a single, non-empty file-system name`);
  }
  return name;
}

export function resolveDatabasePath(opts: PathOptions): string {
  if (opts.path !== undefined) {
    if (opts.appName !== undefined || opts.databaseName !== undefined || opts.dataRoot !== undefined) {
      throw new EmdbError(ErrorCode.INVALID_CONFIG, 'path cannot be combined with appName/databaseName/dataRoot');
    }
    if (typeof opts.path !== 'string' || opts.path === '') throw new EmdbError(ErrorCode.INVALID_CONFIG, 'path must be a non-empty string');
    return path.resolve(opts.path);
  }
  const appName = checkName('appName', opts.appName ?? 'emdb');
  const databaseName = checkName('databaseName', opts.databaseName ?? 'emdb-default.emdb');
  const root = opts.dataRoot ?? defaultDataRoot();
  if (typeof root !== 'string' || root === '') throw new EmdbError(ErrorCode.INVALID_CONFIG, 'dataRoot must be a non-empty string');
  return path.resolve(root, appName, databaseName);
}
