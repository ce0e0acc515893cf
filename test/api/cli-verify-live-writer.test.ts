/**
 * `emdb-js verify` on a database another process is writing right now never
 * calls healthy data corrupt. Before the fix it did most of the time: the walk
 * read a record the writer had not finished (or the zeros written ahead of
 * it), then the damage scan, reading later, found a durable mark past it and
 * judged the "damage" durable (DAMAGE, result CORRUPT, exit 3). Verify now
 * reads the header before taking the file's size, and when the database is
 * open in a live process it walks again: damage after the checkpoint counts
 * only when two walks find it at the same offset; otherwise the bytes there
 * are reported as being written (exit 0). Real damage is still found while
 * the database is open (cli-verify-durable-damage covers it closed).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { run, tmp } from './cli-helpers.js';
import { FIXTURES, rmrf } from '../helpers/common.js';

const WRITER = path.join(FIXTURES, 'busy-writer.js');
let child: ChildProcess | undefined;
const dirs: string[] = [];

afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await new Promise((resolve) => child!.once('exit', resolve));
  }
  child = undefined;
  dirs.splice(0).forEach(rmrf);
});

async function startWriter(db: string): Promise<void> {
  child = spawn(process.execPath, [WRITER, db], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child!.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    child!.once('exit', () => reject(new Error('writer exited')));
  });
}

describe('verify beside a live writer', () => {
  it('reports no damage over repeated runs while the database is written', { timeout: 120_000 }, async () => {
    const dir = tmp();
    dirs.push(dir);
    const db = path.join(dir, 'db.emdb');
    await startWriter(db);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const failures: string[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await run(['verify', db, '-q']);
      if (r.code !== 0) failures.push(`exit ${r.code}: ${r.stdout.toString().split('\n').filter((l) => /DAMAGE|result/.test(l)).join(' | ')}`);
    }
    expect(failures).toEqual([]);
    child!.kill('SIGKILL');
    await new Promise((resolve) => child!.once('exit', resolve));
    // What the writer left is crash residue at worst: the same verify says ok.
    expect((await run(['verify', db, '-q'])).code).toBe(0);
    expect(fs.existsSync(db)).toBe(true);
  });
});
