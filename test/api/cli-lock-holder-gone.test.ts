/**
 * lock-holder after the holder was SIGKILLed (outside report): it printed
 * "locked by pid N" with no hint that N is gone, so the operator hunted a
 * process that was not there. It now says the holder is not running and that
 * the next open (or break-lock) recovers the lock; exit 0 as before.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { run, tmp } from './cli-helpers.js';

const dir = tmp();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('lock-holder of a killed holder', () => {
  it('says the holder is not running and how the lock is recovered', async () => {
    const db = path.join(dir, 'killed.emdb');
    const holder = spawn(process.execPath, ['--input-type=module', '-e', `
      import { Emdb } from ${JSON.stringify(path.resolve(import.meta.dirname, '../../dist/src/index.js'))};
      const db = await Emdb.open(${JSON.stringify(db)}, { readers: 1 });
      await db.insert('a', '1');
      console.log('ready');
      setInterval(() => {}, 1000);
    `], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((resolve) => holder.once('exit', resolve));
    try {
      await new Promise<void>((resolve) => holder.stdout!.once('data', () => resolve()));
      const live = await run(['lock-holder', db]);
      expect(live.code).toBe(0);
      expect(live.stdout.toString()).toContain(`locked by pid ${holder.pid}`);
      expect(live.stdout.toString()).not.toContain('not running');
      expect(JSON.parse((await run(['lock-holder', db, '--json'])).stdout.toString())).toMatchObject({ locked: true, pid: holder.pid, stale: false });
    } finally {
      holder.kill('SIGKILL');
      await exited;
    }
    const gone = await run(['lock-holder', db]);
    expect(gone.code).toBe(0);
    const text = gone.stdout.toString();
    expect(text).toContain(`locked by pid ${holder.pid}`);
    expect(text).toContain('not running');
    expect(text).toContain('break-lock');
    expect(JSON.parse((await run(['lock-holder', db, '--json'])).stdout.toString())).toMatchObject({ locked: true, pid: holder.pid, stale: true });
    // And what it promises holds: break-lock removes it.
    expect((await run(['break-lock', db])).code).toBe(0);
    expect((await run(['lock-holder', db])).stdout.toString()).toBe('not locked\n');
  });
});
