import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';

/** Tests exercise the built package (dist), exactly what users import. */
export { Emdb, EmdbError, ErrorCode } from '../dist/src/index.js';

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

export const FIXTURES = path.resolve(import.meta.dirname, '..', 'dist', 'test', 'fixtures');

/**
 * `npm run test:torture` sets EMDB_TORTURE=1: every reliability test multiplies its
 * iterations and seeds by this factor (the CI tier runs with 1).
 */
export const TORTURE_FACTOR = process.env.EMDB_TORTURE === '1' ? 10 : 1;

/** `n` iterations in the CI tier, 10× under `npm run test:torture`. */
export function scaled(n: number): number {
  return n * TORTURE_FACTOR;
}
