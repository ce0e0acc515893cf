/**
 * Issue 12, defect 4: errors the caller handles must not also surface as
 * unhandled rejections from promises the library made internally (in-flight
 * insertMany chunks, a batch of remove() calls, an iteration's read-ahead
 * chunk). Each scenario runs in a child process with Node's default settings,
 * where an unhandled rejection kills the process, so a clean exit code is the
 * assertion; the child's printed outcome then checks the close() contract:
 * writes issued before close() complete, work not yet sent rejects with
 * ERR_EMDB_CLOSED, insertMany (removeMany) says how many entries (keys) it committed.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FIXTURES, tempDirs } from '../helpers/common.js';
import { mountTmpfs, tmpfsUnavailable, type Mount } from '../helpers/real-fs.js';

const SCRIPT = path.join(FIXTURES, 'close-scenarios.js');
const TMPFS_SKIP = tmpfsUnavailable();
if (TMPFS_SKIP) console.log(`[handled-errors] disk-full scenarios SKIPPED: ${TMPFS_SKIP}`);

interface Outcome {
  code?: string;
  cause?: string;
  committed?: number;
  plain?: string;
}

/** Runs a scenario with default Node flags; resolves with its exit code, stderr and printed result. */
function runScenario(scenario: string, dir: string): Promise<{ code: number | null; stderr: string; result: Record<string, unknown> | undefined }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SCRIPT, scenario, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const line = stdout.split('\n').find((l) => l.startsWith('result '));
      resolve({ code, stderr, result: line ? (JSON.parse(line.slice('result '.length)) as Record<string, unknown>) : undefined });
    });
  });
}

async function cleanRun(scenario: string, dir: string): Promise<Record<string, unknown>> {
  const run = await runScenario(scenario, dir);
  expect(run.code, `${scenario} exited with ${run.code}; stderr:\n${run.stderr}`).toBe(0);
  expect(run.result, `${scenario} printed no result; stderr:\n${run.stderr}`).toBeDefined();
  return run.result!;
}

describe('handled errors never crash the process (child process, default Node settings)', () => {
  const newDir = tempDirs('emdb-handled-');

  it('close() during a large insertMany: it rejects with ERR_EMDB_CLOSED and `committed`, chunks still in flight do not reject unhandled, committed entries are kept', async () => {
    const r = await cleanRun('insertManyThenClose', newDir());
    const load = r.load as Outcome;
    expect(load.code).toBe('ERR_EMDB_CLOSED');
    expect(load.committed).toBeGreaterThan(0);
    expect(load.committed).toBeLessThan(200_000);
    expect(r.close).toBe('ok');
    // Every chunk sent before close() completed, and nothing more was written.
    expect(r.len).toBe(load.committed);
  });

  it('close() called from inside insertMany\'s async source: same contract', async () => {
    const r = await cleanRun('insertManyAsyncSourceCloses', newDir());
    const load = r.load as Outcome;
    expect(load.code).toBe('ERR_EMDB_CLOSED');
    expect(r.close).toBe('ok');
    expect(r.len).toBe(load.committed);
  });

  it('breaking out of, or throwing inside, for-await over iter()/keys() and then close(): no "Terminating worker thread" rejection', async () => {
    const r = await cleanRun('iterationAbandonedThenClose', newDir());
    expect(r.seen).toBe(24);
    expect(r.close).toBe('ok');
  });

  it('after close() every iterator next() rejects with ERR_EMDB_CLOSED, even with entries read ahead; reads in flight resolve or reject with ERR_EMDB_CLOSED', async () => {
    const r = await cleanRun('iteratorsAndReadsAcrossClose', newDir());
    expect(r.first).toEqual(['ok', 'ok']);
    expect(r.close).toBe('ok');
    expect(r.after).toEqual([{ code: 'ERR_EMDB_CLOSED' }, { code: 'ERR_EMDB_CLOSED' }, { code: 'ERR_EMDB_CLOSED' }]);
    for (const c of r.readCodes as string[]) expect(['ok', 'ERR_EMDB_CLOSED']).toContain(c);
    expect(r.fresh).toEqual({ code: 'ERR_EMDB_CLOSED' });
  });
});

describe.skipIf(TMPFS_SKIP !== undefined)('disk full (real size-limited tmpfs) never crashes the process', () => {
  const mounts: Mount[] = [];
  afterEach(() => mounts.splice(0).forEach((m) => m.unmount()));

  /** Runs `scenario` on a tmpfs of `bytes`: its `field` outcome is ERR_EMDB_IO caused by ENOSPC, and the database closes cleanly. */
  async function diskFull(bytes: number, scenario: string, field: string): Promise<{ r: Awaited<ReturnType<typeof cleanRun>>; outcome: Outcome }> {
    const mount = mountTmpfs(bytes);
    mounts.push(mount);
    const r = await cleanRun(scenario, mount.dir);
    const outcome = r[field] as Outcome;
    expect(outcome.code).toBe('ERR_EMDB_IO');
    expect(outcome.cause).toBe('ENOSPC');
    expect(r.close).toBe('ok');
    return { r, outcome };
  }

  it('disk full during insertMany: ERR_EMDB_IO with the ENOSPC cause and `committed`, no chunk rejects unhandled, the committed entries are readable', async () => {
    const { r, outcome } = await diskFull(8 << 20, 'insertManyDiskFull', 'load');
    expect(r.len).toBe(outcome.committed);
  });

  it('disk full during removeMany: ERR_EMDB_IO with the ENOSPC cause and `committed`, no chunk rejects unhandled, exactly the committed keys are gone', async () => {
    const { r, outcome } = await diskFull(32 << 20, 'removeManyDiskFull', 'removal');
    expect(outcome.committed).toBeLessThan(100_000);
    expect(r.len).toBe(100_000 - outcome.committed!);
  });

  it('disk full on a tick with only remove() calls: each remove rejects with ERR_EMDB_IO, nothing rejects unhandled, nothing was removed', async () => {
    const mount = mountTmpfs(8 << 20);
    mounts.push(mount);
    const r = await cleanRun('removeOnlyDiskFull', mount.dir);
    expect(r.codes).toEqual(['ERR_EMDB_IO:ENOSPC']);
    expect(r.len).toBe(2000);
    expect(r.close).toBe('ok');
  });
});
