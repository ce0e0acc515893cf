/** Small helpers shared by the harness: disk usage, versions, pipelining, args. */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { SizeOnDisk } from './adapters/types.js';

const require = createRequire(import.meta.url);

/** Recursive size of a file or directory (allocated and apparent bytes). */
export async function sizeOnDisk(target: string): Promise<SizeOnDisk> {
  const total: SizeOnDisk = { allocated: 0, apparent: 0 };
  const visit = async (p: string): Promise<void> => {
    const st = await fs.promises.lstat(p).catch(() => undefined);
    if (!st) return;
    if (st.isDirectory()) {
      for (const name of await fs.promises.readdir(p)) await visit(path.join(p, name));
    } else {
      total.allocated += st.blocks * 512;
      total.apparent += st.size;
    }
  };
  await visit(target);
  return total;
}

/**
 * Version of an installed package, or '?'. Walks up from the package's entry
 * point, since not every package exports its package.json.
 */
export function packageVersion(name: string, resolver: NodeRequire = require): string {
  try {
    let dir = path.dirname(resolver.resolve(name));
    for (;;) {
      const file = path.join(dir, 'package.json');
      if (fs.existsSync(file)) {
        const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === name) return pkg.version ?? '?';
      }
      const parent = path.dirname(dir);
      if (parent === dir) return '?';
      dir = parent;
    }
  } catch {
    return '?';
  }
}

/**
 * Runs `op(i)` for i in [0, count) with at most `window` outstanding: the way an
 * application issues many independent async requests.
 */
export async function pipelined(count: number, window: number, op: (i: number) => Promise<unknown> | unknown): Promise<void> {
  for (let start = 0; start < count; start += window) {
    const end = Math.min(count, start + window);
    const pending: Promise<unknown>[] = [];
    for (let i = start; i < end; i++) {
      const r = op(i);
      if (r instanceof Promise) pending.push(r);
    }
    await Promise.all(pending);
  }
}

/**
 * Copies the files under `from` to `to` (same relative names), skipping those
 * `skip` names (lock files). Used on a store that is open and idle, so the copy
 * is what a kill -9 at that moment would leave on disk (see bench/README.md).
 */
export function copyTree(from: string, to: string, skip: (name: string) => boolean): void {
  fs.mkdirSync(to, { recursive: true });
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    if (skip(entry.name)) continue;
    const src = path.join(from, entry.name);
    const dst = path.join(to, entry.name);
    if (entry.isDirectory()) copyTree(src, dst, skip);
    else if (entry.isFile()) fs.copyFileSync(src, dst);
  }
}

/** A fresh directory under os.tmpdir(). */
export function mkTempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Version of this project (emdb-js), read from the package.json above dist/bench. */
export function projectVersion(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '?';
  } catch {
    return '?';
  }
}

/** `--name value` and `--flag` command-line options. */
export function parseArgs(argv: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) continue;
    const eq = arg.indexOf('=');
    if (eq > 0) {
      out.set(arg.slice(2, eq), arg.slice(eq + 1));
    } else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) {
      out.set(arg.slice(2), argv[++i]!);
    } else {
      out.set(arg.slice(2), 'true');
    }
  }
  return out;
}

export function intArg(args: Map<string, string>, name: string, fallback: number): number {
  const raw = args.get(name);
  if (raw === undefined) return fallback;
  const n = Number(raw.replace(/_/g, ''));
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got ${raw}`);
  return n;
}

/** True when the module with this import.meta.url is the script node was started with. */
export function isMain(moduleUrl: string): boolean {
  const script = process.argv[1];
  return script !== undefined && moduleUrl === pathToFileURL(path.resolve(script)).href;
}

export function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

/** A promise with its settle functions; a rejection nobody awaits is not reported as unhandled. */
export function settleable<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: Error) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/** Rejects when `p` has not settled within `ms`. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** The median of `xs` (the mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
