/**
 * A lock whose holder was killed but not yet reaped (a zombie: its parent has
 * not called wait()) is stale. Found by outside testing: signal 0 still
 * reaches a zombie, so the lock was taken for live, and `Emdb.open` /
 * `breakLock` refused with ERR_EMDB_LOCKED until the parent reaped it (seen in
 * practice as `timeout -s KILL` on the demo followed at once by a second run).
 * The liveness check now reads the process state from /proc.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, FIXTURES, tempDirs } from '../helpers/common.js';

function stateOf(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.charAt(stat.lastIndexOf(')') + 2);
  } catch {
    return undefined;
  }
}

describe.skipIf(process.platform !== 'linux')('a lock held by a zombie', () => {
  const newDir = tempDirs('emdb-lock-zombie-');

  it('is recovered by the next open (the holder was SIGKILLed and its parent never reaps it)', async () => {
    const file = path.join(newDir(), 'z.emdb');
    // The shell starts the holder in the background, then becomes `sleep` (exec), which never waits for it.
    // Its stdin is a pipe from `sleep` that stays open: the holder keeps the database until it is killed.
    const parent = spawn('sh', ['-c', `sleep 30 | "${process.execPath}" "${path.join(FIXTURES, 'holder-child.js')}" "${file}" > "${file}.out" & echo $!; exec sleep 30`], {
      stdio: ['ignore', 'pipe', 'inherit'],
      // Its own process group: the cleanup kills the shell's `sleep`s with it.
      detached: true,
    });
    try {
      const holderPid = await new Promise<number>((resolve, reject) => {
        parent.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
        parent.once('exit', () => reject(new Error('parent exited')));
      });
      // Wait until the holder has the lock and said so.
      const deadline = Date.now() + 20_000;
      while (!fs.existsSync(`${file}.out`) || !fs.readFileSync(`${file}.out`, 'utf8').includes('ready')) {
        if (Date.now() > deadline) throw new Error('holder never became ready');
        await new Promise((r) => setTimeout(r, 50));
      }
      await expect(Emdb.open(file, { readers: 1 })).rejects.toMatchObject({ code: 'ERR_EMDB_LOCKED' });
      process.kill(holderPid, 'SIGKILL');
      while (stateOf(holderPid) !== 'Z') {
        if (Date.now() > deadline) throw new Error(`holder ${holderPid} did not become a zombie (state ${stateOf(holderPid)})`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const db = await Emdb.open<Buffer>(file, { readers: 1 });
      try {
        expect(db.getSync('child')?.toString()).toBe(`pid ${holderPid}`);
      } finally {
        await db.close();
      }
    } finally {
      try {
        process.kill(-parent.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
      parent.stdout.destroy();
    }
  });
});
