import { spawn, type ChildProcessByStdio } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { afterEach } from 'vitest';

/** Tests exercise the built package (dist) by its name, exactly what users import. */
export { Emdb, EmdbError, ErrorCode } from 'emdb-js';

export function tmpDir(prefix = 'emdb-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function rmrf(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/**
 * Call inside a describe(): returns a maker of temp dirs that are all removed
 * after each test of that block.
 */
export function tempDirs(prefix?: string): () => string {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach(rmrf));
  return () => {
    const dir = tmpDir(prefix);
    dirs.push(dir);
    return dir;
  };
}

/** Expects `p` to reject with an EmdbError carrying `code`. */
export async function rejectsWithCode(p: Promise<unknown> | (() => unknown), code: string): Promise<void> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    const e = err as { code?: string; name?: string };
    if (e.code !== code) throw new Error(`expected ${code}, got ${e.code ?? e.name}: ${String(err)}`);
    return;
  }
  throw new Error(`expected rejection with ${code}, but it resolved`);
}

export const FIXTURES = path.resolve(import.meta.dirname, '..', '..', 'dist', 'test', 'fixtures');

/**
 * `npm run test:torture` sets EMDB_TORTURE=1: every reliability test multiplies its
 * iterations and seeds by this factor (the CI tier runs with 1).
 */
export const TORTURE_FACTOR = process.env.EMDB_TORTURE === '1' ? 10 : 1;

/** `n` iterations in the CI tier, 10× under `npm run test:torture`. */
export function scaled(n: number): number {
  return n * TORTURE_FACTOR;
}

/**
 * Node flags for the short-lived children the kill -9 suites spawn by the
 * hundred. Such a child lives well under a second, and most of its CPU goes to
 * V8's optimizing compiler and parallel GC helpers rather than to the engine:
 * without them a child costs ~40 % less CPU, so more kills fit the CI budget.
 * They change how V8 runs JavaScript, not what the engine does: the same
 * syscalls in the same order, the same acknowledgements.
 */
export const CRASH_CHILD_EXEC_ARGV = ['--no-opt', '--single-threaded-gc'] as const;

/** Spawns a fixture script as a crash child: its own node process, UV_USE_IO_URING=0, stdout/stderr piped. */
export function spawnCrashChild(script: string, args: readonly string[]): ChildProcessByStdio<null, Readable, Readable> {
  return spawn(process.execPath, [...CRASH_CHILD_EXEC_ARGV, script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, UV_USE_IO_URING: '0' },
  });
}

/** Every item of an async iterable, in order. */
export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
