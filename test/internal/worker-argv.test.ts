/**
 * Our worker threads must start whatever node options the user's process was
 * started with: a worker inherits execArgv, and `--input-type` (a one-liner's
 * option) made the writer refuse to load its own file.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { withoutEntryOptions } from '../../dist/src/core/worker-argv.js';
import { tempDirs } from '../helpers/common.js';

const INDEX_URL = pathToFileURL(path.resolve(import.meta.dirname, '..', '..', 'dist', 'src', 'index.js')).href;

describe('worker threads and the process execArgv', () => {
  const dirs = tempDirs('emdb-argv-');

  it('inherits when there is nothing to drop; else drops --input-type and what workers refuse', () => {
    const all = () => true;
    expect(withoutEntryOptions(['--no-opt', '--enable-source-maps'], all)).toBeUndefined();
    expect(withoutEntryOptions([], all)).toBeUndefined();
    expect(withoutEntryOptions(['--input-type=module', '--no-warnings', '--conditions', 'dev'], all)).toEqual(['--no-warnings', '--conditions', 'dev']);
    expect(withoutEntryOptions(['--input-type', 'commonjs', '--enable-source-maps'], all)).toEqual(['--enable-source-maps']);
    // A V8 option is refused in an explicit execArgv (it applies to every thread anyway): left out.
    const noV8 = (args: string[]) => !args.includes('--no-opt');
    expect(withoutEntryOptions(['--no-opt', '--input-type=module', '--no-warnings'], noV8)).toEqual(['--no-warnings']);
  });

  it.each([['--input-type=module'], ['--input-type', 'module'], ['--no-opt', '--input-type=module', '--no-warnings']])('open, write, read on the writer and a reader, close from a one-liner with %s …', (...flag: string[]) => {
    const file = path.join(dirs(), 'one-liner.emdb');
    const script = [
      `const { Emdb } = await import(${JSON.stringify(INDEX_URL)});`,
      `const db = await Emdb.open(${JSON.stringify(file)}, { readers: 1 });`,
      `await db.insert('k', 'v');`,
      // get() goes through the reader pool (its own worker threads), getSync() through the shared index here.
      `const got = [String(await db.get('k')), String(db.getSync('k'))];`,
      `await db.close();`,
      `console.log(JSON.stringify(got));`,
    ].join('\n');
    const out = execFileSync(process.execPath, [...flag, '-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect(JSON.parse(out.trim())).toEqual(['v', 'v']);
  });
});
