/**
 * At-rest encryption (issue 15): an encrypted database behaves like a plain
 * one on every API path, for both ciphers, with a raw key and a passphrase,
 * across reopen from the index snapshot and by full replay, compaction and
 * backup; and nothing of it is on disk in the clear.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Emdb, FIXTURES, tempDirs } from '../helpers/common.js';

type Enc = { key: Uint8Array; cipher?: 'aes-256-gcm' | 'chacha20-poly1305' } | { passphrase: string; cipher?: 'aes-256-gcm' | 'chacha20-poly1305' };

async function fill(db: Emdb<Buffer>): Promise<Map<string, string>> {
  const model = new Map<string, string>();
  for (let i = 0; i < 200; i++) {
    await db.insert(`key-${i}`, Buffer.from(`value-${i}`));
    model.set(`key-${i}`, `value-${i}`);
  }
  for (let i = 0; i < 200; i += 7) {
    await db.remove(`key-${i}`);
    model.delete(`key-${i}`);
  }
  await db.transaction(async (tx) => {
    await tx.insert('tx-a', Buffer.from('in-a-transaction'));
    await tx.insert('key-1', Buffer.from('overwritten-in-tx'));
  });
  model.set('tx-a', 'in-a-transaction');
  model.set('key-1', 'overwritten-in-tx');
  const ns = await db.namespace('users');
  await ns.insert('alice', Buffer.from('ns-value'));
  return model;
}

async function expectContent(db: Emdb<Buffer>, model: Map<string, string>): Promise<void> {
  expect(await db.len()).toBe(model.size);
  for (const [k, v] of model) {
    expect(db.getSync(k)?.toString()).toBe(v);
  }
  const keys = [...model.keys()];
  expect((await db.getMany(keys)).map((b) => b?.toString())).toEqual([...model.values()]);
  expect(await db.get('key-0')).toBeUndefined();
  expect((await (await db.namespace('users')).get('alice'))?.toString()).toBe('ns-value');
  const seen = new Map<string, string>();
  for await (const [k, v] of db.iter()) seen.set(k.toString(), v.toString());
  expect(seen).toEqual(model);
}

describe('encrypted databases round-trip on every path', () => {
  const newDir = tempDirs();
  const cases: [string, Enc][] = [
    ['aes-256-gcm, raw key', { key: randomBytes(32) }],
    ['chacha20-poly1305, raw key', { key: randomBytes(32), cipher: 'chacha20-poly1305' }],
    ['aes-256-gcm, passphrase', { passphrase: 'correct horse battery staple' }],
    ['chacha20-poly1305, passphrase', { passphrase: 'pässwörd ✓', cipher: 'chacha20-poly1305' }],
  ];
  for (const [name, encryption] of cases) {
    it(name, async () => {
      const dir = newDir();
      const file = path.join(dir, 'enc.emdb');
      let db = await Emdb.open(file, { readers: 2, encryption });
      const model = await fill(db);
      await expectContent(db, model);
      await db.close();

      // Reopen from the (sealed) index snapshot.
      db = await Emdb.open(file, { readers: 2, encryption });
      expect((await db.stats()).recovery.mode).toBe('snapshot');
      await expectContent(db, model);
      await db.close();

      // Reopen by full replay.
      fs.rmSync(`${file}.index`);
      db = await Emdb.open(file, { readers: 2, encryption });
      expect((await db.stats()).recovery.mode).toBe('full');
      await expectContent(db, model);

      // Compaction reseals under the new file's subkey; writes after it land too.
      await db.compact();
      await expectContent(db, model);
      await db.insert('after-compact', Buffer.from('x'));
      model.set('after-compact', 'x');
      await db.backupTo(path.join(dir, 'backup.emdb'));
      await db.close();

      for (const f of [file, path.join(dir, 'backup.emdb')]) {
        db = await Emdb.open(f, { readers: 1, encryption });
        await expectContent(db, model);
        await db.close();
      }
    }, 60_000);
  }

  it('an attached worker reads and writes an encrypted database (it needs no key: the shared memory holds plaintext)', async () => {
    const dir = newDir();
    const encryption = { key: randomBytes(32) };
    const db = await Emdb.open(path.join(dir, 'a.emdb'), { readers: 1, encryption });
    await db.insert('from-main', 'hello');
    await db.insert('to-remove', 'x');
    const worker = new Worker(path.join(FIXTURES, 'attached-worker.js'), { workerData: db.handle() });
    const ask = (msg: object, t: string): Promise<Record<string, unknown>> =>
      new Promise((resolve) => {
        const on = (m: Record<string, unknown>): void => {
          if (m.t === t) {
            worker.off('message', on);
            resolve(m);
          }
        };
        worker.on('message', on);
        worker.postMessage(msg);
      });
    await new Promise((resolve) => worker.once('message', resolve));
    expect(await ask({ t: 'read', key: 'from-main' }, 'read')).toMatchObject({ viaGet: 'hello', viaSync: 'hello' });
    expect(await ask({ t: 'write', key: 'w' }, 'written')).toMatchObject({ removed: true });
    expect(db.getSync('w')?.toString()).toBe('from-worker:w');
    await ask({ t: 'detach' }, 'detached');
    await worker.terminate();
    await db.close();
    const reopened = await Emdb.open(path.join(dir, 'a.emdb'), { readers: 1, encryption });
    expect(reopened.getSync('w')?.toString()).toBe('from-worker:w');
    expect(reopened.getSync('to-remove')).toBeUndefined();
    await reopened.close();
  }, 30_000);
});
