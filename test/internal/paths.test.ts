import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../dist/src/errors.js';
import { defaultDataRoot, resolveDatabasePath, type PathOptions } from '../../dist/src/paths.js';

function codeOf(opts: PathOptions): string | undefined {
  try {
    resolveDatabasePath(opts);
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

const savedEnv = { XDG_DATA_HOME: process.env.XDG_DATA_HOME, LOCALAPPDATA: process.env.LOCALAPPDATA };
const savedPlatform = Object.getOwnPropertyDescriptor(process, 'platform')!;

function setEnv(name: keyof typeof savedEnv, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

function pretendPlatform(platform: NodeJS.Platform): void {
  Object.defineProperty(process, 'platform', { ...savedPlatform, value: platform });
}

afterEach(() => {
  setEnv('XDG_DATA_HOME', savedEnv.XDG_DATA_HOME);
  setEnv('LOCALAPPDATA', savedEnv.LOCALAPPDATA);
  Object.defineProperty(process, 'platform', savedPlatform);
});

describe('resolveDatabasePath with an explicit path', () => {
  it('returns the path resolved to an absolute one', () => {
    expect(resolveDatabasePath({ path: '/tmp/x/db.emdb' })).toBe('/tmp/x/db.emdb');
    expect(resolveDatabasePath({ path: 'rel/db.emdb' })).toBe(path.resolve('rel/db.emdb'));
  });

  it('rejects mixing path with appName, databaseName or dataRoot', () => {
    expect(codeOf({ path: '/tmp/a', appName: 'x' })).toBe(ErrorCode.INVALID_CONFIG);
    expect(codeOf({ path: '/tmp/a', databaseName: 'x' })).toBe(ErrorCode.INVALID_CONFIG);
    expect(codeOf({ path: '/tmp/a', dataRoot: '/tmp' })).toBe(ErrorCode.INVALID_CONFIG);
  });

  it('rejects an empty path, a NUL byte or a non-string', () => {
    expect(codeOf({ path: '' })).toBe(ErrorCode.INVALID_CONFIG);
    expect(codeOf({ path: 'a\0b' })).toBe(ErrorCode.INVALID_CONFIG);
    expect(codeOf({ path: 42 as unknown as string })).toBe(ErrorCode.INVALID_CONFIG);
  });
});

describe('resolveDatabasePath from appName / databaseName / dataRoot', () => {
  it('defaults to <data root>/emdb/emdb-default.emdb', () => {
    expect(resolveDatabasePath({})).toBe(path.join(defaultDataRoot(), 'emdb', 'emdb-default.emdb'));
  });

  it('joins dataRoot, appName and databaseName without adding an extension', () => {
    expect(resolveDatabasePath({ dataRoot: '/srv/data', appName: 'my-app', databaseName: 'users' })).toBe(
      '/srv/data/my-app/users',
    );
  });

  it('resolves a relative dataRoot against the working directory', () => {
    expect(resolveDatabasePath({ dataRoot: 'data' })).toBe(path.resolve('data', 'emdb', 'emdb-default.emdb'));
  });

  it.each(['', '.', '..', 'a/b', 'a\\b', '/abs', 'a\0b'])('rejects appName %j', (name) => {
    expect(codeOf({ appName: name, dataRoot: '/srv' })).toBe(ErrorCode.INVALID_CONFIG);
  });

  it.each(['', '.', '..', 'a/b', 'a\\b', '../up.emdb', 'a\0b'])('rejects databaseName %j', (name) => {
    expect(codeOf({ databaseName: name, dataRoot: '/srv' })).toBe(ErrorCode.INVALID_CONFIG);
  });

  it('rejects an empty dataRoot or one with a NUL byte', () => {
    expect(codeOf({ dataRoot: '' })).toBe(ErrorCode.INVALID_CONFIG);
    expect(codeOf({ dataRoot: '/a\0b' })).toBe(ErrorCode.INVALID_CONFIG);
  });

  it('accepts names with dots, spaces and unicode that stay one entry', () => {
    expect(resolveDatabasePath({ dataRoot: '/r', appName: '.hidden app', databaseName: 'dé..jà.db' })).toBe(
      '/r/.hidden app/dé..jà.db',
    );
  });

  it('does not create any directory', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'emdb-paths-'));
    try {
      resolveDatabasePath({ dataRoot: root, appName: 'app' });
      expect(fs.readdirSync(root)).toEqual([]);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('defaultDataRoot', () => {
  it('uses an absolute $XDG_DATA_HOME on Linux', () => {
    pretendPlatform('linux');
    setEnv('XDG_DATA_HOME', '/xdg/data');
    expect(defaultDataRoot()).toBe('/xdg/data');
    expect(resolveDatabasePath({})).toBe('/xdg/data/emdb/emdb-default.emdb');
  });

  it('ignores a relative or empty $XDG_DATA_HOME and falls back to ~/.local/share', () => {
    pretendPlatform('linux');
    const fallback = path.join(os.homedir(), '.local', 'share');
    setEnv('XDG_DATA_HOME', 'relative/data');
    expect(defaultDataRoot()).toBe(fallback);
    setEnv('XDG_DATA_HOME', '');
    expect(defaultDataRoot()).toBe(fallback);
    setEnv('XDG_DATA_HOME', undefined);
    expect(defaultDataRoot()).toBe(fallback);
  });

  it('uses ~/Library/Application Support on macOS, regardless of XDG', () => {
    pretendPlatform('darwin');
    setEnv('XDG_DATA_HOME', '/xdg/data');
    expect(defaultDataRoot()).toBe(path.join(os.homedir(), 'Library', 'Application Support'));
  });

  it('uses %LOCALAPPDATA% on Windows, falling back to ~/AppData/Local', () => {
    pretendPlatform('win32');
    setEnv('LOCALAPPDATA', 'C:\\Users\\u\\AppData\\Local');
    expect(defaultDataRoot()).toBe('C:\\Users\\u\\AppData\\Local');
    setEnv('LOCALAPPDATA', undefined);
    expect(defaultDataRoot()).toBe(path.join(os.homedir(), 'AppData', 'Local'));
  });
});
