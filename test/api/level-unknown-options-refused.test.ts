/**
 * emdb-js/level refuses unknown options as Emdb.open does: a misspelled
 * `encryption` must never give a plaintext database. A near miss of a known
 * name, or an emdb-js option the adapter does not take, given to the
 * constructor, throws there: an EmdbError (ERR_EMDB_INVALID_CONFIG, naming the
 * option and the closest known name), as abstract-level's constructor throws
 * for an unknown encoding (a deferred open's failure reaches queued operations
 * as a bare LEVEL_DATABASE_NOT_OPEN, without the reason). Given to db.open(),
 * it fails the open the way every open failure does (LEVEL_DATABASE_NOT_OPEN,
 * the EmdbError as its cause). A name far from every known one fails the open
 * too, unless a postopen hook may be reading it (abstract-level hands the open
 * options to those hooks). Nothing is created. abstract-level's options, the
 * engine options that pass through and classic-level's tuning options are accepted.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EmdbLevel, LEVEL_DATA_FILE } from 'emdb-js/level';
import { Emdb, EmdbError } from 'emdb-js';
import { tempDirs } from '../helpers/common.js';

const passphrase = 'correct horse battery staple';

/** The error `f` throws (the test fails if it returns). */
function thrown(f: () => unknown): EmdbError {
  try {
    f();
  } catch (err) {
    return err as EmdbError;
  }
  throw new Error('expected a throw, but it returned');
}

/** The error `p` rejects with (the test fails if it resolves). */
async function refusal(p: Promise<unknown>): Promise<{ code?: string; cause?: { code?: string; message?: string } }> {
  try {
    await p;
  } catch (err) {
    return err as { code?: string; cause?: { code?: string; message?: string } };
  }
  throw new Error('expected a refusal, but it resolved');
}

describe('emdb-js/level: unknown options are refused', () => {
  const tmp = tempDirs('emdb-level-');

  it('a typo in encryption is refused by the constructor and creates nothing', async () => {
    const location = path.join(tmp(), 'db');
    const err = thrown(() => new EmdbLevel(location, { encyption: { passphrase } } as never));
    expect(err).toBeInstanceOf(EmdbError);
    expect(err.code).toBe('ERR_EMDB_INVALID_CONFIG');
    expect(err.message).toContain('unknown EmdbLevel option encyption (did you mean encryption?)');
    await new Promise((r) => setTimeout(r, 50)); // past abstract-level's deferred open, had it been queued
    expect(fs.existsSync(location)).toBe(false);
  });

  it.each([
    ['flushpolicy', 'flushPolicy', { flushpolicy: { kind: 'writeThrough' } }],
    ['readerz', 'readers', { readerz: 1 }],
    ['valueEncodng', 'valueEncoding', { valueEncodng: 'json' }],
    ['createIfMising', 'createIfMissing', { createIfMising: false }],
  ])('%s (did you mean %s)', (typo, meant, options) => {
    const err = thrown(() => new EmdbLevel(path.join(tmp(), 'db'), options as never));
    expect(err.code).toBe('ERR_EMDB_INVALID_CONFIG');
    expect(err.message).toContain(`unknown EmdbLevel option ${typo} (did you mean ${meant}?)`);
  });

  it('emdb-js options a Level location does not take are refused (rangeScans, path, defaultTtl, separator)', () => {
    for (const name of ['rangeScans', 'path', 'defaultTtl', 'separator']) {
      const err = thrown(() => new EmdbLevel(path.join(tmp(), 'db'), { [name]: undefined } as never));
      expect(err.code).toBe('ERR_EMDB_INVALID_CONFIG');
      expect(err.message).toContain(`EmdbLevel does not take the emdb-js option ${name}`);
    }
  });

  it('a name like no known one fails the open, unless a postopen hook is there to read it', async () => {
    // abstract-level hands constructor and open() options to postopen hooks (its compliance suite checks it).
    const location = path.join(tmp(), 'db');
    const lone = new EmdbLevel(location, { userland: 1 } as never);
    const err = await refusal(lone.open());
    expect(err.code).toBe('LEVEL_DATABASE_NOT_OPEN');
    expect(err.cause?.code).toBe('ERR_EMDB_INVALID_CONFIG');
    expect(err.cause?.message).toContain('unknown EmdbLevel option userland');
    expect(fs.existsSync(location)).toBe(false);

    const hooked = new EmdbLevel(location, { userland: 1 } as never);
    const seen: unknown[] = [];
    hooked.hooks.postopen.add(async (options) => void seen.push((options as { userland?: unknown }).userland));
    await hooked.open();
    expect(seen).toEqual([1]);
    await hooked.close();
    // A near miss of a known name is refused even then.
    const typo = new EmdbLevel(location, { passive: true });
    typo.hooks.postopen.add(async () => undefined);
    expect((await refusal(typo.open({ encyption: { passphrase } } as never))).cause?.message).toContain('did you mean encryption');
  });

  it("options given to open() are checked, and open()'s engine options are used", async () => {
    const location = path.join(tmp(), 'db');
    const made = new EmdbLevel(location, { encryption: { passphrase } });
    await made.put('k', 'v');
    await made.close();
    const db = new EmdbLevel(location, { passive: true });
    const err = await refusal(db.open({ encyption: { passphrase } } as never));
    expect(err.code).toBe('LEVEL_DATABASE_NOT_OPEN');
    expect(err.cause?.code).toBe('ERR_EMDB_INVALID_CONFIG');
    expect(err.cause?.message).toContain('did you mean encryption');
    expect(await refusal(db.get('k'))).toMatchObject({ code: 'LEVEL_DATABASE_NOT_OPEN' });
    await db.open({ encryption: { passphrase } });
    expect(await db.get('k')).toBe('v');
    await db.close();
  });

  it("abstract-level's and classic-level's options are accepted; cacheSize reaches the engine", async () => {
    const location = path.join(tmp(), 'db');
    const db = new EmdbLevel<string, { n: number }>(location, {
      keyEncoding: 'utf8',
      valueEncoding: 'json',
      createIfMissing: true,
      errorIfExists: false,
      multithreading: false,
      compression: true,
      cacheSize: 8 * 1024 * 1024,
      writeBufferSize: 4 * 1024 * 1024,
      blockSize: 4096,
      maxOpenFiles: 1000,
      blockRestartInterval: 16,
      maxFileSize: 2 * 1024 * 1024,
      readers: 1,
      flushPolicy: { kind: 'group', maxWaitMs: 1 },
      rangeSnapshotLimit: { maxAgeMs: 60_000 },
    });
    await db.put('k', { n: 1 });
    expect(await db.get('k')).toEqual({ n: 1 });
    await db.close();
    await db.open({ createIfMissing: false, errorIfExists: false, passive: false, compression: false });
    await db.close();
    const bad = await refusal(new EmdbLevel(location).open({ cacheSize: -1 }));
    expect(bad.cause?.code).toBe('ERR_EMDB_INVALID_CONFIG');
    // The file is a plain emdb-js database: nothing of the ignored options was recorded.
    const raw = await Emdb.open(path.join(location, LEVEL_DATA_FILE), { readers: 1, rangeScans: true });
    expect(await raw.len()).toBe(1);
    await raw.close();
  });
});
