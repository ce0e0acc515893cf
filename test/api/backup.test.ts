/**
 * db.backupTo(path): a consistent copy of the database as of the call, written
 * to a temp file beside the target and renamed into place, usable with
 * Emdb.open, taken while reads and writes go on. The backup copies the log
 * prefix [0, end) from the shared mirror a chunk per writer turn, so the
 * concurrent test checks that writes were served while it ran.
 */
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from '@node-rs/crc32';
import { describe, expect, it } from 'vitest';
import { Emdb, ErrorCode } from 'emdb-js';
import { rejectsWithCode, tempDirs } from '../helpers/common.js';
import { DATA_START, PRELUDE_FILE_ID, PRELUDE_VERSION, SLOT_A, SLOT_FLAGS, SLOT_PREFIX_CRC, SLOT_TAIL_HINT, rng } from '../helpers/log-image.js';

const PRELOAD = 16_000;
const value = (key: string, bytes = 1000) => `${key}=`.padEnd(bytes, key.slice(-1));

describe('backupTo', () => {
  const newDir = tempDirs('emdb-backup-');

  it('while a writer loop and a reader loop run: the backup holds every write acknowledged before the call, whole, and writes were served during it', async () => {
    const dir = newDir();
    const db = await Emdb.open(path.join(dir, 'live.emdb'), { readers: 1 });
    const target = path.join(dir, 'backup.emdb');
    // About 16 MiB, so the copy takes several chunks (4 MiB each) and writer turns.
    await db.insertMany(Array.from({ length: PRELOAD }, (_, i) => [`pre-${i}`, value(`pre-${i}`)] as [string, string]));
    let stop = false;
    const acked: string[] = [];
    const writer = (async () => {
      for (let i = 0; !stop; i++) {
        await db.insert(`w-${i}`, value(`w-${i}`, 200));
        acked.push(`w-${i}`);
      }
    })();
    let reads = 0;
    const readerErrors: string[] = [];
    const reader = (async () => {
      const random = rng(77);
      while (!stop) {
        const i = Math.floor(random() * PRELOAD);
        const got = random() < 0.5 ? db.getSync(`pre-${i}`)?.toString() : (await db.get(`pre-${i}`))?.toString();
        if (got !== value(`pre-${i}`)) readerErrors.push(`pre-${i}: ${got?.slice(0, 20)}`);
        reads++;
        if (reads % 64 === 0) await new Promise((r) => setImmediate(r));
      }
    })();
    while (acked.length < 200) await new Promise((r) => setTimeout(r, 1));
    const before = new Set(acked);
    const ackedBefore = acked.length;
    await db.backupTo(target);
    const duringBackup = acked.length - ackedBefore;
    console.log(`[backup] ${ackedBefore} writes acknowledged before backupTo, ${duringBackup} while it ran, ${reads} reads`);
    stop = true;
    await Promise.all([writer, reader]);
    expect(readerErrors).toEqual([]);
    expect(reads).toBeGreaterThan(0);
    expect(duringBackup, 'writes acknowledged while the backup was copying').toBeGreaterThan(0);
    // Nothing was lost from the live database either.
    for (const k of acked) expect(db.getSync(k)?.toString(), k).toBe(value(k, 200));
    await db.close();
    expect(fs.existsSync(`${target}.backup-tmp`)).toBe(false);

    const backup = await Emdb.open(target, { readers: 1 });
    try {
      for (let i = 0; i < PRELOAD; i += 97) expect(backup.getSync(`pre-${i}`)?.toString()).toBe(value(`pre-${i}`));
      for (const k of before) expect(backup.getSync(k)?.toString(), k).toBe(value(k, 200));
      // A prefix of the write sequence, each value whole.
      let present = 0;
      while (backup.getSync(`w-${present}`) !== undefined) present++;
      expect(present).toBeGreaterThanOrEqual(before.size);
      for (let i = present; i < acked.length; i++) expect(backup.getSync(`w-${i}`), `w-${i} after a gap`).toBeUndefined();
      for (let i = 0; i < present; i++) expect(backup.getSync(`w-${i}`)?.toString()).toBe(value(`w-${i}`, 200));
      expect(await backup.len()).toBe(PRELOAD + present);
    } finally {
      await backup.close();
    }
  });

  it('namespaces, removed keys, a dropped and a cleared namespace: the backup is the same database (new file id, tail hint and prefix CRC set)', async () => {
    const dir = newDir();
    const source = path.join(dir, 'source.emdb');
    const target = path.join(dir, 'nested', 'dir', 'backup.emdb');
    const db = await Emdb.open(source, { readers: 1 });
    const users = await db.namespace('users');
    const orders = await db.namespace('orders');
    const gone = await db.namespace('gone');
    const cleared = await db.namespace('cleared');
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 300; i++) {
      writes.push(users.insert(`u${i}`, `user ${i}`), orders.insert(`o${i}`, `order ${i}`), gone.insert(`g${i}`, 'x'));
      writes.push(cleared.insert(`c${i}`, 'y'), db.insert(`d${i}`, `default ${i}`));
    }
    for (let i = 0; i < 300; i += 3) writes.push(users.remove(`u${i}`), db.remove(`d${i}`));
    await Promise.all(writes);
    await users.insert('u1', 'overwritten');
    await db.dropNamespace('gone');
    await cleared.clear();
    await db.backupTo(target);
    const want = await db.stats();
    await db.close();

    const image = fs.readFileSync(target);
    const original = fs.readFileSync(source);
    expect(image.readUInt32LE(PRELUDE_VERSION)).toBe(3);
    expect(image.subarray(PRELUDE_FILE_ID, PRELUDE_FILE_ID + 16).equals(original.subarray(PRELUDE_FILE_ID, PRELUDE_FILE_ID + 16))).toBe(false);
    expect(Number(image.readBigUInt64LE(SLOT_A + SLOT_TAIL_HINT))).toBe(image.length);
    expect(image.readUInt32LE(SLOT_A + SLOT_FLAGS) & 1).toBe(1);
    expect(image.readUInt32LE(SLOT_A + SLOT_PREFIX_CRC)).toBe(crc32(image.subarray(DATA_START)));
    // The records are the source's, byte for byte.
    expect(image.subarray(DATA_START).equals(original.subarray(DATA_START, image.length))).toBe(true);

    const backup = await Emdb.open(target, { readers: 1 });
    try {
      const got = await backup.stats();
      expect(got.recovery).toMatchObject({ mode: 'full', prefixVerified: true });
      for (const field of ['records', 'liveBytes', 'deadBytes', 'namespaces', 'fileBytes'] as const) expect(got[field], field).toBe(want[field]);
      expect(await backup.namespaces()).toEqual(['cleared', 'orders', 'users']);
      const bUsers = await backup.namespace('users');
      const bOrders = await backup.namespace('orders');
      expect(await bUsers.len()).toBe(200);
      expect(bUsers.getSync('u1')?.toString()).toBe('overwritten');
      expect(bUsers.getSync('u3')).toBeUndefined();
      expect(bUsers.getSync('u4')?.toString()).toBe('user 4');
      expect(await bOrders.len()).toBe(300);
      expect(await (await backup.namespace('cleared')).len()).toBe(0);
      expect(await backup.len()).toBe(200);
      expect(backup.getSync('d0')).toBeUndefined();
      expect(backup.getSync('d1')?.toString()).toBe('default 1');
      expect(await (await backup.namespace('gone')).len()).toBe(0);
    } finally {
      await backup.close();
    }
  });

  it('an in-memory database backs up to a file', async () => {
    const dir = newDir();
    const target = path.join(dir, 'from-memory.emdb');
    const mem = await Emdb.openInMemory({ readers: 1 });
    await mem.insertMany(Array.from({ length: 1000 }, (_, i) => [`m${i}`, `v${i}`] as [string, string]));
    await mem.remove('m7');
    await mem.backupTo(target);
    await mem.close();
    const db = await Emdb.open(target, { readers: 1 });
    try {
      expect(await db.len()).toBe(999);
      expect(db.getSync('m8')?.toString()).toBe('v8');
      expect(db.getSync('m7')).toBeUndefined();
    } finally {
      await db.close();
    }
  });

  it('a previous backup is replaced whole; an orphan temp file of a crashed backup is removed; close waits for a running backup', async () => {
    const dir = newDir();
    const target = path.join(dir, 'backup.emdb');
    const db = await Emdb.open(path.join(dir, 'db.emdb'), { readers: 1 });
    await db.insert('a', 'first');
    await db.backupTo(target);
    fs.writeFileSync(`${target}.backup-tmp`, 'half a backup from a crashed run');
    await db.insert('a', 'second');
    await db.insert('b', 'new');
    await db.backupTo(target);
    expect(fs.existsSync(`${target}.backup-tmp`)).toBe(false);
    // Close right after the request: the accepted backup still completes.
    await db.insertMany(Array.from({ length: 6_000 }, (_, i) => [`big-${i}`, 'z'.repeat(1000)] as [string, string]));
    const late = path.join(dir, 'late.emdb');
    const pending = db.backupTo(late);
    await db.close();
    await pending;
    const backup = await Emdb.open(target, { readers: 1 });
    try {
      expect(backup.getSync('a')?.toString()).toBe('second');
      expect(backup.getSync('b')?.toString()).toBe('new');
    } finally {
      await backup.close();
    }
    const lateDb = await Emdb.open(late, { readers: 1 });
    try {
      expect(await lateDb.len()).toBe(6_002);
    } finally {
      await lateDb.close();
    }
  });

  it('a compaction requested while the backup copies: the backup keeps copying the old log, both complete', async () => {
    const dir = newDir();
    const target = path.join(dir, 'backup.emdb');
    const db = await Emdb.open(path.join(dir, 'db.emdb'), { readers: 1 });
    try {
      await db.insertMany(Array.from({ length: 9_000 }, (_, i) => [`c-${i}`, value(`c-${i}`)] as [string, string]));
      await Promise.all(Array.from({ length: 4_500 }, (_, i) => db.remove(`c-${2 * i}`)));
      const sizeBefore = (await db.stats()).fileBytes;
      const [, report] = await Promise.all([db.backupTo(target), db.compact(), db.insert('after', 'not in the backup')]);
      expect(report.bytesAfter).toBeLessThan(sizeBefore / 2);
      expect(fs.statSync(target).size).toBe(sizeBefore);
      expect(db.getSync('after')?.toString()).toBe('not in the backup');
    } finally {
      await db.close();
    }
    const backup = await Emdb.open(target, { readers: 1 });
    try {
      expect(await backup.len()).toBe(4_500);
      for (let i = 0; i < 9_000; i += 7) expect(backup.getSync(`c-${i}`)?.toString(), `c-${i}`).toBe(i % 2 === 1 ? value(`c-${i}`) : undefined);
      expect(backup.getSync('after')).toBeUndefined();
    } finally {
      await backup.close();
    }
  });

  it('refusals: the database itself or its own files, a foreign file, a directory, an open database, a closed database, bad paths', async () => {
    const dir = newDir();
    const file = path.join(dir, 'db.emdb');
    const db = await Emdb.open(file, { readers: 1 });
    await db.insert('k', 'v');
    await db.checkpoint();
    const foreign = path.join(dir, 'notes.txt');
    fs.writeFileSync(foreign, 'not a database');
    const other = path.join(dir, 'other.emdb');
    const otherDb = await Emdb.open(other, { readers: 1 });
    await otherDb.insert('mine', 'keep');
    await otherDb.checkpoint();
    const otherBefore = fs.readFileSync(other);
    try {
      const sizeBefore = fs.statSync(file).size;
      await rejectsWithCode(db.backupTo(file), ErrorCode.INVALID_CONFIG);
      await rejectsWithCode(db.backupTo(path.join(dir, '.', 'db.emdb')), ErrorCode.INVALID_CONFIG);
      await rejectsWithCode(db.backupTo(`${file}.index`), ErrorCode.INVALID_CONFIG);
      await rejectsWithCode(db.backupTo(`${file}.lock`), ErrorCode.INVALID_CONFIG);
      await rejectsWithCode(db.backupTo(`${file}.compact`), ErrorCode.INVALID_CONFIG);
      fs.writeFileSync(`${foreign}.backup-tmp`, 'left by someone');
      await rejectsWithCode(db.backupTo(foreign), ErrorCode.INVALID_CONFIG);
      expect(fs.readFileSync(foreign, 'utf8')).toBe('not a database');
      expect(fs.readFileSync(`${foreign}.backup-tmp`, 'utf8'), 'a refusal touches nothing').toBe('left by someone');
      await rejectsWithCode(db.backupTo(dir), ErrorCode.INVALID_CONFIG);
      await rejectsWithCode(db.backupTo(other), ErrorCode.LOCKED);
      expect(fs.readFileSync(other).equals(otherBefore)).toBe(true);
      for (const bad of ['', 123, null, 'a\0b']) await rejectsWithCode(db.backupTo(bad as string), ErrorCode.INVALID_CONFIG);
      expect(fs.statSync(file).size).toBe(sizeBefore);
      expect(db.getSync('k')?.toString()).toBe('v');
    } finally {
      await otherDb.close();
      await db.close();
    }
    await rejectsWithCode(db.backupTo(path.join(dir, 'after-close.emdb')), ErrorCode.CLOSED);
    expect(fs.existsSync(path.join(dir, 'after-close.emdb'))).toBe(false);
  });

  it('a database whose name ends in .backup-tmp cannot be the temp file of a backup', async () => {
    const dir = newDir();
    const file = path.join(dir, 'x.emdb.backup-tmp');
    const db = await Emdb.open(file, { readers: 1 });
    try {
      await db.insert('k', 'v');
      await db.flush();
      await rejectsWithCode(db.backupTo(path.join(dir, 'x.emdb')), ErrorCode.INVALID_CONFIG);
      expect(fs.existsSync(file)).toBe(true);
      expect(db.getSync('k')?.toString()).toBe('v');
    } finally {
      await db.close();
    }
  });
});
