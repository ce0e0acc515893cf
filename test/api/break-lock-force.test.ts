/**
 * The operator's escape hatch for a lock whose holder cannot be checked from
 * this host (a pod SIGKILLed on another hostname, a container in another PID
 * namespace): `Emdb.breakLock(path, { force: true })` and `emdb-js break-lock
 * --force PATH` remove it; without force it is refused, `lock-holder` says the
 * holder cannot be checked, and the ERR_EMDB_LOCKED message names the command.
 * Force never removes a holder this host sees running (a guard).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, ErrorCode, run } from './cli-helpers.js';
import { rejectsWithCode, tempDirs } from '../helpers/common.js';

const newDir = tempDirs('emdb-force-');

function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '']).pid!;
}

async function dbWithForeignLock(): Promise<string> {
  const db = path.join(newDir(), 'db.emdb');
  const d = await Emdb.open(db, { readers: 1 });
  await d.insert('k', 'v');
  await d.close();
  fs.writeFileSync(`${db}.lock`, JSON.stringify({ pid: deadPid(), hostname: 'app-old-7c9f', startedAt: new Date().toISOString(), path: db }));
  return db;
}

describe('breakLock with force', () => {
  it('a lock from another host: refused without force, removed with it', async () => {
    const db = await dbWithForeignLock();
    const err = await Emdb.open(db).catch((e: unknown) => e as { code: string; message: string });
    expect(err).toMatchObject({ code: ErrorCode.LOCKED });
    expect((err as { message: string }).message).toContain(`break-lock --force ${fs.realpathSync(db)}`);
    expect((err as { message: string }).message).not.toMatch(/use breakLock on that host/);
    expect(await Emdb.lockHolder(db)).toMatchObject({ hostname: 'app-old-7c9f', stale: false, checkable: false });
    await rejectsWithCode(Emdb.breakLock(db), ErrorCode.LOCKED);
    await rejectsWithCode(Emdb.breakLock(db, { force: 'yes' as unknown as boolean }), ErrorCode.INVALID_CONFIG);
    await Emdb.breakLock(db, { force: true });
    expect(fs.existsSync(`${db}.lock`)).toBe(false);
    const d = await Emdb.open(db, { readers: 1 });
    expect(d.getSync('k')?.toString()).toBe('v');
    await d.close();
  });

  it('the CLI: lock-holder says it cannot be checked, break-lock refuses, break-lock --force removes it', async () => {
    const db = await dbWithForeignLock();
    const holder = await run(['lock-holder', db]);
    expect(holder.code).toBe(0);
    expect(holder.stdout.toString()).toMatch(/cannot be checked from this host/);
    expect(holder.stdout.toString()).toContain(`break-lock --force ${db}`);
    const json = JSON.parse((await run(['lock-holder', db, '--json'])).stdout.toString());
    expect(json).toMatchObject({ locked: true, stale: false, checkable: false });
    expect((await run(['break-lock', db])).code).toBe(3);
    expect(fs.existsSync(`${db}.lock`)).toBe(true);
    const help = await run(['break-lock', '--help']);
    expect(help.stdout.toString() + help.stderr).toMatch(/--force[\s\S]*sure/);
    const forced = await run(['break-lock', '--force', db]);
    expect(forced.code).toBe(0);
    expect(fs.existsSync(`${db}.lock`)).toBe(false);
  });

  it('force still refuses a holder this host sees running (guard)', async () => {
    const db = path.join(newDir(), 'db.emdb');
    const d = await Emdb.open(db, { readers: 1 });
    try {
      await rejectsWithCode(Emdb.breakLock(db, { force: true }), ErrorCode.LOCKED);
      expect(fs.existsSync(`${db}.lock`)).toBe(true);
      expect((await run(['break-lock', '--force', db])).code).toBe(3);
    } finally {
      await d.close();
    }
  });
});
