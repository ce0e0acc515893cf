/**
 * The writer thread's entry (workers/writer-boot.cts) runs the bundle with the
 * V8 code cache the build writes beside it. The cache must be one V8 accepts
 * for a plain `node` (else the build step is broken and every open pays the
 * full compile), and it is only a hint: with no cache, or a damaged one, the
 * thread starts all the same. The entry is started on copies inside dist/ (so
 * the bundle's packages still resolve) and told `cancel`, its first-message
 * way out: it must end by itself with exit code 0. A damaged payload matters
 * most: V8 does not check it and aborts the whole process on one (found
 * writing this test), so the entry checks the file's CRC first.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';

const WORKERS = path.resolve(import.meta.dirname, '..', '..', 'dist', 'workers');
const BUNDLE = path.join(WORKERS, 'writer.bundle.cjs');
const copies: string[] = [];
afterAll(() => {
  for (const dir of copies) fs.rmSync(dir, { recursive: true, force: true });
});

/** The entry and the bundle copied to a fresh directory in dist/, with `cache` as the code cache (none if undefined). */
function entryWith(cache: Buffer | undefined): string {
  const dir = fs.mkdtempSync(path.join(WORKERS, '..', '.boot-test-'));
  copies.push(dir);
  fs.copyFileSync(path.join(WORKERS, 'writer-boot.cjs'), path.join(dir, 'writer-boot.cjs'));
  fs.copyFileSync(BUNDLE, path.join(dir, 'writer.bundle.cjs'));
  if (cache) fs.writeFileSync(path.join(dir, 'writer.bundle.cjs.v8cache'), cache);
  return path.join(dir, 'writer-boot.cjs');
}

/** Starts `entry` as the opener starts the writer, says cancel, and resolves with its exit code. */
function bootAndCancel(entry: string): Promise<number> {
  const worker = new Worker(entry);
  worker.postMessage({ cancel: true });
  return new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.once('exit', resolve);
  });
}

describe("the writer thread's code cache", () => {
  it('the build wrote a cache that a plain node accepts for this bundle', () => {
    expect(fs.existsSync(`${BUNDLE}.v8cache`)).toBe(true);
    // In a child: this test process runs under vitest's flags, which V8 counts in a cache's fit.
    const check = `
      const fs = require('node:fs'); const vm = require('node:vm'); const { wrap } = require('node:module');
      const f = ${JSON.stringify(BUNDLE)};
      const s = new vm.Script(wrap(fs.readFileSync(f, 'utf8')), { filename: f, cachedData: fs.readFileSync(f + '.v8cache').subarray(12) });
      process.stdout.write(String(s.cachedDataRejected));`;
    expect(execFileSync(process.execPath, ['-e', check], { encoding: 'utf8' })).toBe('false');
  });

  it('starts and ends cleanly with the cache, without it, and with a damaged one', async () => {
    const cache = fs.readFileSync(`${BUNDLE}.v8cache`);
    const damaged = Buffer.from(cache);
    for (let i = 64; i < damaged.length; i += 997) damaged[i]! ^= 0x5a;
    expect(await bootAndCancel(entryWith(cache))).toBe(0);
    expect(await bootAndCancel(entryWith(undefined))).toBe(0);
    expect(await bootAndCancel(entryWith(damaged))).toBe(0);
    expect(await bootAndCancel(entryWith(Buffer.from('not a code cache')))).toBe(0);
  });
});
