/**
 * A reader thread terminated while it still loads its task module must not take
 * the process down. piscina loads the task file with require(); on Node ≥ 20.19
 * require() of an ES module is synchronous require(esm), and terminating a thread
 * inside it aborts the process (an assertion in Node's module facade, about one
 * attach/terminate cycle in 250 before the fix). The entry is CommonJS that
 * imports the ES module asynchronously.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { READER_WORKER_URL } from '../../dist/src/core/read-pool.js';
import { FIXTURES, scaled } from '../helpers/common.js';

describe('reader threads terminated during start-up', () => {
  it('the pool entry loads through require() without require(esm)', () => {
    const entry = fileURLToPath(READER_WORKER_URL);
    const loaded = createRequire(import.meta.url)(entry) as Record<string, Promise<unknown>>;
    // An ES module required here would be evaluated synchronously (require(esm)) and
    // hand back its functions; the CommonJS entry hands back promises of them that the
    // asynchronous import settles. (Outside a reader thread that import rejects: the
    // reader module needs its workerData, so the rejections are swallowed.)
    for (const name of ['default', 'scan', 'range']) {
      expect(typeof loaded[name]?.then, name).toBe('function');
      loaded[name]!.catch(() => {});
    }
  });

  it('attach, read and terminate cycles never abort the process', () => {
    const cycles = scaled(60);
    const run = spawnSync(process.execPath, [path.join(FIXTURES, 'attach-terminate-loop.js'), String(cycles)], { encoding: 'utf8', timeout: 600_000 });
    expect(run.stderr).not.toMatch(/Assertion failed/);
    expect({ status: run.status, signal: run.signal, out: run.stdout.trim() }).toEqual({ status: 0, signal: null, out: `done ${cycles}` });
  }, 600_000);
});
