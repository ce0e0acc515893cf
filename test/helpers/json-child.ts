/**
 * Runs a fixture script in a node process of its own (memory tests: its RSS is
 * then the database's alone) and resolves with the JSON of its last stdout
 * line. No execArgv of ours reaches it (spawn passes none on) and NODE_OPTIONS
 * is cleared; `env` adds to this process's environment.
 */
import { spawn } from 'node:child_process';

export function runJsonChild<T>(script: string, args: readonly string[], env: Record<string, string> = {}): Promise<T> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '', ...env } });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      const line = out.trim().split('\n').at(-1);
      if (code !== 0 || !line) reject(new Error(`child exited ${code}: ${err}`));
      else resolve(JSON.parse(line) as T);
    });
  });
}
