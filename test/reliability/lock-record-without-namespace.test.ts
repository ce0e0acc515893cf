/**
 * A lock record written without the holder's PID namespace and boot id (by
 * emdb-js 0.2.0 and earlier) is judged conservatively: its pid cannot prove
 * the holder gone, since that holder may run in another container, so a dead
 * pid no longer makes it stale; the open is refused with ERR_EMDB_LOCKED
 * pointing to `break-lock --force`. A record taken before this host last
 * booted is stale whatever it holds (the holder ended with that boot).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { Emdb, ErrorCode, tempDirs } from '../helpers/common.js';

const newDir = tempDirs('emdb-oldrec-');
const HAS_NS = fs.existsSync('/proc/self/ns/pid');

function bootMs(): number {
  return Number(/^btime (\d+)$/m.exec(fs.readFileSync('/proc/stat', 'utf8'))![1]) * 1000;
}

async function withOldRecord(startedAt: Date): Promise<string> {
  const db = path.join(newDir(), 'db.emdb');
  const d = await Emdb.open(db, { readers: 1 });
  await d.insert('k', 'v');
  await d.close();
  const pid = spawnSync(process.execPath, ['-e', '']).pid!;
  fs.writeFileSync(`${db}.lock`, JSON.stringify({ pid, hostname: os.hostname(), startedAt: startedAt.toISOString(), path: db }));
  return db;
}

describe.skipIf(!HAS_NS)('a lock record without a PID namespace', () => {
  it('is not broken by a dead pid alone', async () => {
    const db = await withOldRecord(new Date());
    const err = await Emdb.open(db).catch((e: unknown) => e as { code: string; message: string });
    expect(err).toMatchObject({ code: ErrorCode.LOCKED });
    expect((err as { message: string }).message).toMatch(/without its PID namespace[\s\S]*break-lock --force/);
    expect(await Emdb.lockHolder(db)).toMatchObject({ stale: false, checkable: false });
    await Emdb.breakLock(db, { force: true });
    await (await Emdb.open(db, { readers: 1 })).close();
  });

  it('is stale when taken before this host last booted (guard)', async () => {
    const db = await withOldRecord(new Date(bootMs() - 3_600_000));
    expect(await Emdb.lockHolder(db)).toMatchObject({ stale: true, checkable: true });
    const d = await Emdb.open(db, { readers: 1 });
    expect(d.getSync('k')?.toString()).toBe('v');
    await d.close();
  });
});
