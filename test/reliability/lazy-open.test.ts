/**
 * Lazy reopen: a log reopened after a clean close from a snapshot with page
 * CRCs reads only its header and the snapshot; each 64 KiB page is loaded when
 * first read (any thread) or by the writer's background warm-up, and checked
 * against the snapshot's page CRCs first (docs/DESIGN.md, "Lazy log pages").
 * The suite sets EMDB_LAZY_OPEN_MIN_BYTES=0 so small logs open lazily too.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testMutant } from '../../dist/src/mutants.js';
import { Emdb, EmdbError, ErrorCode, FIXTURES, tempDirs } from '../helpers/common.js';
import { build, damagedDatabase, descriptorsOn, PAGE, sha, until, valueOf } from '../helpers/lazy-db.js';

describe('lazy reopen', () => {
  const newDir = tempDirs('emdb-lazy-open-');
  // Lazy opens of these small logs, with the background warm-up on (npm run test:lazy turns it off for the other suites).
  // The whole-log mirror's lazy pages: the tiny-cache tier's EMDB_CACHE_SIZE is set aside (cache-size-reads.test.ts covers frames).
  const saved = { min: process.env.EMDB_LAZY_OPEN_MIN_BYTES, warm: process.env.EMDB_LAZY_WARM, cache: process.env.EMDB_CACHE_SIZE };
  beforeAll(() => {
    process.env.EMDB_LAZY_OPEN_MIN_BYTES = '0';
    delete process.env.EMDB_LAZY_WARM;
    delete process.env.EMDB_CACHE_SIZE;
  });
  afterAll(() => {
    if (saved.min === undefined) delete process.env.EMDB_LAZY_OPEN_MIN_BYTES;
    else process.env.EMDB_LAZY_OPEN_MIN_BYTES = saved.min;
    if (saved.warm !== undefined) process.env.EMDB_LAZY_WARM = saved.warm;
    if (saved.cache !== undefined) process.env.EMDB_CACHE_SIZE = saved.cache;
  });

  it('leaves the pages on disk and reads every key through getSync, get, getMany, iter, rangeIter and an attached thread', async () => {
    const file = path.join(newDir(), 'db.emdb');
    const model = await build(file, 6000, true);
    const db = await Emdb.open<Buffer>(file, { rangeScans: true });
    try {
      const stats = await db.stats();
      expect(stats.recovery.lazyPages).toBe(Math.ceil(fs.statSync(file).size / PAGE));
      expect(stats.recovery.recordsReplayed).toBe(0);
      for (const [k, v] of model) expect(db.getSync(k), k).toEqual(v);
      const keys = [...model.keys()];
      const viaPool = await db.getMany(keys);
      viaPool.forEach((v, i) => expect(v, keys[i]).toEqual(model.get(keys[i]!)));
      expect((await Promise.all(keys.slice(0, 500).map((k) => db.get(k)))).every((v, i) => v?.equals(model.get(keys[i]!)!))).toBe(true);
      const iterated = new Map<string, Buffer>();
      for await (const [k, v] of db.iter()) iterated.set(k.toString(), Buffer.from(v));
      expect(iterated).toEqual(model);
      const ranged: string[] = [];
      for await (const [k, v] of db.rangeIter({ gte: 'key-001000', lt: 'key-002000' })) {
        expect(v).toEqual(model.get(k.toString()));
        ranged.push(k.toString());
      }
      expect(ranged).toEqual(keys.filter((k) => k >= 'key-001000' && k < 'key-002000').sort());

      const worker = new Worker(path.join(FIXTURES, 'attached-worker.js'), { workerData: db.handle() });
      try {
        const probe = keys[keys.length - 1]!;
        await new Promise((resolve) => worker.once('message', resolve)); // 'attached'
        worker.postMessage({ t: 'read', key: probe });
        const reply = await new Promise<{ viaGet?: string; viaSync?: string }>((resolve) => {
          const onMessage = (m: { t: string; viaGet?: string; viaSync?: string }): void => {
            if (m.t !== 'read') return;
            worker.off('message', onMessage);
            resolve(m);
          };
          worker.on('message', onMessage);
        });
        expect(reply.viaSync).toBe(model.get(probe)!.toString());
        expect(reply.viaGet).toBe(model.get(probe)!.toString());
      } finally {
        await worker.terminate();
      }
    } finally {
      await db.close();
    }
  });

  it('serves a read before the warm-up, then loads the rest in the background and closes its read descriptor', async () => {
    if (!fs.existsSync('/proc/self/fd')) return;
    const file = path.join(newDir(), 'db.emdb');
    const model = await build(file, 20_000);
    const db = await Emdb.open<Buffer>(file);
    try {
      const [k, v] = [...model][model.size >> 1]!;
      expect(db.getSync(k)).toEqual(v);
      // The writer's read-write descriptor stays; the page loader's read-only one goes once every page is in memory.
      expect(await until(() => descriptorsOn(file) === 1), 'page descriptor closed after the warm-up').toBe(true);
      for (const [key, value] of model) expect(db.getSync(key)).toEqual(value);
    } finally {
      await db.close();
    }
  });

  it('writes, compaction and a backup after a lazy open keep every record; the next reopen is lazy again', async () => {
    const dir = newDir();
    const file = path.join(dir, 'db.emdb');
    const model = await build(file, 8000);
    const db = await Emdb.open<Buffer>(file);
    for (let i = 0; i < 8000; i += 5) {
      const k = `key-${String(i).padStart(6, '0')}`;
      await db.insert(k, valueOf(i, 2));
      model.set(k, valueOf(i, 2));
    }
    await db.insert('fresh', Buffer.from('new'));
    model.set('fresh', Buffer.from('new'));
    await db.flush();
    await db.backupTo(path.join(dir, 'backup.emdb'));
    await db.compact({ force: true });
    await db.close();
    for (const target of [file, path.join(dir, 'backup.emdb')]) {
      const again = await Emdb.open<Buffer>(target);
      try {
        if (target === file) expect((await again.stats()).recovery.lazyPages).toBeGreaterThan(0);
        for (const [k, v] of model) expect(again.getSync(k), `${target} ${k}`).toEqual(v);
        expect(await again.len()).toBe(model.size);
      } finally {
        await again.close();
      }
    }
  });

  it('a damaged byte in a page left on disk: the open succeeds, reads of that page and a write replacing its record fail with ERR_EMDB_CORRUPTION, later writes too, the file is untouched', async () => {
    const { file, model, key, at } = await damagedDatabase(newDir());
    const before = sha(file);

    const db = await Emdb.open<Buffer>(file);
    try {
      const pageStart = Math.floor(at / PAGE) * PAGE;
      let caught: unknown;
      try {
        db.getSync(key);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(EmdbError);
      expect(caught).toMatchObject({ code: ErrorCode.CORRUPTION, offset: pageStart });
      await expect(db.get(key)).rejects.toMatchObject({ code: ErrorCode.CORRUPTION, offset: pageStart });
      // A key on an intact page still reads.
      // key-000001 was written once, by the first batch: page 0.
      expect(db.getSync('key-000001')).toEqual(model.get('key-000001'));
      // A write replacing the damaged record loads its page before the file is touched (or the
      // background warm-up met it first): refused either way, and every write after it too.
      await expect(db.insert(key, Buffer.from('x'))).rejects.toMatchObject({ code: ErrorCode.CORRUPTION });
      await expect(db.insert('new-key', Buffer.from('x'))).rejects.toMatchObject({ code: ErrorCode.CORRUPTION });
    } finally {
      await db.close().catch(() => undefined);
    }
    expect(sha(file), 'the damaged file is never written').toBe(before);

    // Without the lazy open (the default for a log this small) the same damage is an open error, as before.
    delete process.env.EMDB_LAZY_OPEN_MIN_BYTES;
    try {
      await expect(Emdb.open(file)).rejects.toMatchObject({ code: ErrorCode.CORRUPTION });
    } finally {
      process.env.EMDB_LAZY_OPEN_MIN_BYTES = '0';
    }
  });

  it('catches a planted mutant that uses a loaded page without its check', async () => {
    const { file, model, key } = await damagedDatabase(newDir());
    testMutant.name = 'lazy-no-page-check';
    try {
      const db = await Emdb.open<Buffer>(file);
      try {
        // The mutant serves the damaged value: what the check above refuses.
        const got = db.getSync(key);
        expect(got).toBeDefined();
        expect(got!.equals(model.get(key)!)).toBe(false);
      } finally {
        await db.close().catch(() => undefined);
      }
    } finally {
      testMutant.name = '';
    }
  });

  it('after a crash past the snapshot: the pages before it stay on disk and only the records after it are replayed', async () => {
    const file = path.join(newDir(), 'db.emdb');
    const model = await build(file, 6000);
    const entry = pathToFileURL(path.resolve(FIXTURES, '..', '..', 'src', 'index.js')).href;
    // Overwrites of old keys (their records are on pages the reopen has not loaded) and new keys, made durable,
    // an automatic checkpoint (a header slot past the snapshot), then kill -9: no close, no new snapshot.
    const child = `
      const { Emdb } = await import(${JSON.stringify(entry)});
      const db = await Emdb.open(${JSON.stringify(file)});
      for (let i = 0; i < 6000; i += 13) await db.insert('key-' + String(i).padStart(6, '0'), Buffer.from('after-' + i));
      for (let i = 0; i < 200; i++) await db.insert('new-' + i, Buffer.from('n' + i));
      await db.remove('key-000001');
      await db.flush();
      await new Promise((r) => setTimeout(r, 1500));
      process.kill(process.pid, 'SIGKILL');`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', child], { env: { ...process.env, EMDB_LAZY_OPEN_MIN_BYTES: '0' }, encoding: 'utf8' });
    expect(run.signal, run.stderr).toBe('SIGKILL');
    for (let i = 0; i < 6000; i += 13) {
      model.set(`key-${String(i).padStart(6, '0')}`, Buffer.from(`after-${i}`));
    }
    for (let i = 0; i < 200; i++) model.set(`new-${i}`, Buffer.from(`n${i}`));
    model.delete('key-000001');
    const db = await Emdb.open<Buffer>(file);
    try {
      const stats = await db.stats();
      expect(stats.recovery.lazyPages).toBeGreaterThan(0);
      expect(stats.recovery.recordsReplayed).toBeGreaterThan(0);
      for (const [k, v] of model) expect(db.getSync(k), k).toEqual(v);
      expect(await db.len()).toBe(model.size);
      await db.insert('after-reopen', Buffer.from('x'));
      await db.flush();
    } finally {
      await db.close();
    }
  });

  it('zeros past the checkpoint (a crash after preallocating): the pages stay on disk and the zeros are cut as residue', async () => {
    const file = path.join(newDir(), 'db.emdb');
    const model = await build(file, 3000);
    fs.appendFileSync(file, Buffer.alloc(PAGE));
    const db = await Emdb.open<Buffer>(file);
    try {
      const stats = await db.stats();
      expect(stats.recovery.lazyPages).toBeGreaterThan(0);
      expect(stats.recovery.truncatedBytes).toBe(PAGE);
      for (const [k, v] of model) expect(db.getSync(k)).toEqual(v);
    } finally {
      await db.close();
    }
  });
});
