/**
 * The lock registry files records by (st_dev, st_ino), and the file system
 * reuses a deleted file's inode for the next file it creates. A record left
 * behind for a deleted database (found by the kill -9 loop running beside the
 * Level compliance suite, which creates and deletes hundreds of databases) must
 * not lock an unrelated new database that got the same inode, even while the
 * process named in the record is alive; a record for a file that still has
 * that identity keeps locking it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { Emdb, ErrorCode, rejectsWithCode, tempDirs } from '../helpers/common.js';

const newDir = tempDirs('emdb-inode-reuse-');

function registryRecordFor(file: string): string {
  const st = fs.statSync(file, { bigint: true });
  return path.join('/tmp', `emdb-js-locks-${process.geteuid!()}`, `${st.dev}-${st.ino}.lock`);
}

/** A record as a live holder (this very process) would have written it, naming `named`. */
function plantRecord(record: string, named: string): void {
  fs.mkdirSync(path.dirname(record), { recursive: true, mode: 0o700 });
  fs.writeFileSync(record, JSON.stringify({ pid: process.pid, hostname: os.hostname(), startedAt: new Date().toISOString(), path: named }));
}

it.skipIf(process.platform === 'win32')('a registry record naming a deleted file does not lock the new file that reuses its inode', async () => {
  const dir = newDir();
  const fresh = path.join(dir, 'fresh.emdb');
  const db = await Emdb.open(fresh, { readers: 1 });
  await db.insert('k', 'v');
  await db.close();
  const record = registryRecordFor(fresh);
  // The record of a database that lived at another path, since deleted, whose inode `fresh` now has.
  plantRecord(record, path.join(dir, 'deleted-long-ago', 'data.emdb'));
  try {
    const again = await Emdb.open(fresh, { readers: 1 });
    expect(again.getSync('k')?.toString()).toBe('v');
    await again.close();
  } finally {
    fs.rmSync(record, { force: true });
  }
});

it.skipIf(process.platform === 'win32')('a registry record naming a live file with that identity still locks it (hard link)', async () => {
  const dir = newDir();
  const real = path.join(dir, 'real.emdb');
  const db = await Emdb.open(real, { readers: 1 });
  await db.close();
  const hard = path.join(dir, 'hard.emdb');
  fs.linkSync(real, hard);
  const record = registryRecordFor(real);
  plantRecord(record, real);
  try {
    await rejectsWithCode(Emdb.open(hard, { readers: 1 }), ErrorCode.LOCKED);
  } finally {
    fs.rmSync(record, { force: true });
  }
});
