/**
 * Backups to one target never share a temp file (issue 12, defect 2). Each
 * backup writes its own `<target>.backup-tmp.<hex>` and holds the target's
 * lock while it does, so overlapping backupTo() calls to one target (from one
 * database or from two) each either install a whole backup or fail cleanly
 * with ERR_EMDB_LOCKED; none renames a half-written file into place. A temp
 * left by a backup killed mid-copy is removed by the next open of the target,
 * and by the next backup to it; the target keeps its previous good backup.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, ErrorCode, FIXTURES, tempDirs } from '../helpers/common.js';

const newDir = tempDirs('emdb-backup-overlap-');
/** Several 4 MiB copy steps per backup, so overlapping backups interleave. */
const KEYS = 6_000;
const VALUE_BYTES = 4_000;
const value = (i: number) => `${i}:`.padEnd(VALUE_BYTES, String.fromCharCode(97 + (i % 26)));
const sha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const temps = (dir: string) => fs.readdirSync(dir).filter((n) => n.includes('.backup-tmp'));

async function filled(file: string, from = 0): Promise<Emdb<Buffer>> {
  const db = await Emdb.open(file, { readers: 1 });
  await db.insertMany(Array.from({ length: KEYS }, (_, i) => [`k${i}`, value(i + from)] as [string, string]));
  await db.flush();
  return db;
}

/** The file is a whole backup of a database filled with `filled(_, from)`. */
async function expectWholeBackup(file: string, from: number): Promise<void> {
  const db = await Emdb.open(file, { readers: 1 });
  try {
    expect(await db.len()).toBe(KEYS);
    for (let i = 0; i < KEYS; i += 97) expect(db.getSync(`k${i}`)?.toString()).toBe(value(i + from));
  } finally {
    await db.close();
  }
}

/**
 * Starts the backups together; the moment each one resolves, the target is
 * copied aside (it must be that whole backup already). Every rejection must be
 * ERR_EMDB_LOCKED; returns the copies.
 */
async function overlapping(dir: string, calls: (() => Promise<void>)[]): Promise<string[]> {
  const copies: string[] = [];
  const target = path.join(dir, 'backup.emdb');
  const settled = await Promise.allSettled(
    calls.map((call) =>
      call().then(() => {
        const copy = path.join(dir, `copy-${copies.length}.emdb`);
        fs.copyFileSync(target, copy);
        copies.push(copy);
      }),
    ),
  );
  for (const s of settled) if (s.status === 'rejected') expect((s.reason as { code?: string }).code, String(s.reason)).toBe(ErrorCode.LOCKED);
  expect(copies.length).toBeGreaterThan(0);
  expect(temps(dir)).toEqual([]);
  return copies;
}

describe('overlapping backups to one target', () => {
  it('from one database: each installs a whole backup or is refused with LOCKED', async () => {
    const dir = newDir();
    const target = path.join(dir, 'backup.emdb');
    const db = await filled(path.join(dir, 'db.emdb'));
    try {
      await db.backupTo(target); // a previous good backup to replace
      for (let round = 0; round < 3; round++) {
        const copies = await overlapping(dir, Array.from({ length: 4 }, () => () => db.backupTo(target)));
        for (const copy of copies) await expectWholeBackup(copy, 0);
        copies.forEach((c) => fs.unlinkSync(c));
      }
    } finally {
      await db.close();
    }
    await expectWholeBackup(target, 0);
  });

  it('from two databases at once: the target is one of them, whole', async () => {
    const dir = newDir();
    const target = path.join(dir, 'backup.emdb');
    const a = await filled(path.join(dir, 'a.emdb'), 0);
    const b = await filled(path.join(dir, 'b.emdb'), 1);
    try {
      const copies = await overlapping(dir, [() => a.backupTo(target), () => b.backupTo(target), () => a.backupTo(target), () => b.backupTo(target)]);
      for (const copy of [...copies, target]) {
        const probe = await Emdb.open(copy, { readers: 1 });
        const fromA = probe.getSync('k0')?.toString() === value(0);
        await probe.close();
        await expectWholeBackup(copy, fromA ? 0 : 1);
      }
    } finally {
      await a.close();
      await b.close();
    }
  });
});

/**
 * Runs the backup child and SIGKILLs it as soon as its temp file appears;
 * resolves with the temp's name, or undefined when the child was too fast
 * (the backup completed before the kill landed: the caller tries again).
 */
async function killMidBackupOnce(db: string, target: string): Promise<string | undefined> {
  const child = spawn(process.execPath, [path.join(FIXTURES, 'backup-child.js'), db, target], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const dir = path.dirname(target);
  for (;;) {
    const seen = temps(dir);
    if (seen.length > 0) {
      child.kill('SIGKILL');
      await exited;
      if (temps(dir).length === 0 || out.includes('done')) return undefined;
      return seen[0]!;
    }
    if (child.exitCode !== null) {
      if (out.includes('done')) return undefined;
      throw new Error(`backup child exited first: ${out}`);
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Kills a backup mid-copy (a few tries on a busy machine); the target must keep what it held before. */
async function killMidBackup(db: string, target: string): Promise<string> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const previous = sha(target);
    const temp = await killMidBackupOnce(db, target);
    if (temp === undefined) continue;
    expect(sha(target), 'the target changed').toBe(previous);
    return temp;
  }
  throw new Error('the backup child finished before every kill');
}

describe('a backup killed mid-copy', () => {
  it('leaves the previous backup in place; its temp is removed by the next open of the target, or the next backup to it', async () => {
    const dir = newDir();
    const file = path.join(dir, 'db.emdb');
    const target = path.join(dir, 'backup.emdb');
    const db = await filled(file);
    await db.backupTo(target);
    await db.close();

    const temp = await killMidBackup(file, target);
    expect(temps(dir)).toEqual([temp]);
    await expectWholeBackup(target, 0); // opening the target removes the orphan
    expect(temps(dir)).toEqual([]);

    const again = await killMidBackup(file, target);
    expect(temps(dir)).toEqual([again]);
    const reopened = await Emdb.open(file, { readers: 1 });
    try {
      await reopened.insert('newer', 'yes');
      await reopened.backupTo(target);
    } finally {
      await reopened.close();
    }
    expect(temps(dir)).toEqual([]);
    const backup = await Emdb.open(target, { readers: 1 });
    expect(backup.getSync('newer')?.toString()).toBe('yes');
    await backup.close();
  });
});
