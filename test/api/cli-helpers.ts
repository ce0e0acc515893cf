/** Runs the built CLI (dist/src/cli/main.js) in a child process, for the cli-*.test.ts files. */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export { Emdb, EmdbError, ErrorCode } from 'emdb-js';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

export function tmp(prefix = 'emdb-cli-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Starts the CLI; `input` (if given) is written to its stdin, which is then closed (left open with keepStdin). */
export function start(args: string[], opts: { input?: string | Buffer; env?: Record<string, string>; keepStdin?: boolean } = {}): ChildProcess {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
  if (opts.input !== undefined) child.stdin!.end(opts.input);
  else if (!opts.keepStdin) child.stdin!.end();
  return child;
}

export function finish(child: ChildProcess): Promise<RunResult> {
  const out: Buffer[] = [];
  let err = '';
  child.stdout?.on('data', (d: Buffer) => out.push(d));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) => {
    child.once('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(out), stderr: err }));
  });
}

export function run(args: string[], opts: { input?: string | Buffer; env?: Record<string, string> } = {}): Promise<RunResult> {
  return finish(start(args, opts));
}

/** Every entry of every namespace, as sorted "ns\tkeyhex\tvaluehex" lines: equal databases give equal lists. */
export async function contents(file: string): Promise<string[]> {
  const { Emdb } = await import('emdb-js');
  const db = await Emdb.open<Buffer>(file, { readers: 1 });
  try {
    const rows: string[] = [];
    const spaces: [string, AsyncIterable<[Buffer, Buffer]>][] = [['', db.iter()]];
    for (const name of await db.namespaces()) spaces.push([name, (await db.namespace<Buffer>(name)).iter()]);
    for (const [name, it] of spaces) for await (const [k, v] of it) rows.push(`${name}\t${k.toString('hex')}\t${v.toString('hex')}`);
    return rows.sort();
  } finally {
    await db.close();
  }
}
