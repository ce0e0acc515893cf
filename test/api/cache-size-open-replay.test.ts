/**
 * An open that must replay the log (no usable index snapshot) with the page
 * cache on (OpenOptions.cacheSize): the log is replayed through a window of
 * the file (shm/windowed-log.ts), not loaded whole, and with rangeScans the
 * sorted index is rebuilt in log order (writer/sorted-rebuild.ts). Values,
 * key order, a record larger than the window, crash residue after the tail
 * and damage before it behave as with the whole-log mirror
 * (docs/DESIGN.md, "Bounded page cache").
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, ErrorCode, tempDirs } from '../helpers/common.js';
import { build, expectModelThroughRange, liveRecordAfter, PAGE, sha, valueOf } from '../helpers/lazy-db.js';

const TINY = 128 * 1024;
/** Longer than the replay's 4 MiB window: the window grows to hold it. */
const BIG = 5 * 1024 * 1024 + 123;

/** A closed database without its index snapshot: the next open replays every record. */
async function withoutSnapshot(dir: string, encryption?: { key: Uint8Array }): Promise<{ file: string; model: Map<string, Buffer> }> {
  const file = path.join(dir, 'db.emdb');
  const model = await build(file, 5000, true, encryption);
  const db = await Emdb.open<Buffer>(file, { rangeScans: true, ...(encryption ? { encryption } : {}) });
  const big = Buffer.alloc(BIG, 7);
  await db.insert('key-big', big);
  model.set('key-big', big);
  await db.transaction((tx) => {
    for (let i = 0; i < 50; i++) tx.insert(`key-tx-${i}`, valueOf(i, 5));
  });
  for (let i = 0; i < 50; i++) model.set(`key-tx-${i}`, valueOf(i, 5));
  await db.close();
  fs.rmSync(`${file}.index`, { force: true });
  return { file, model };
}

describe('open with cacheSize and no usable index snapshot', () => {
  const newDir = tempDirs('emdb-cache-open-replay-');

  it.each([
    ['plaintext', undefined],
    // Units decrypted into the window; an insertMany chunk (a transaction of many units) crosses the window's end,
    // so its apply walks back over units the check decrypted ahead.
    ['encrypted', { key: Buffer.alloc(32, 0x71) }],
  ])('%s: replays the whole log through a window: every value, the key order and a record larger than the window exact, also after another open', async (_kind, encryption) => {
    const { file, model } = await withoutSnapshot(newDir(), encryption);
    const options = { rangeScans: true, cacheSize: TINY, ...(encryption ? { encryption } : {}) };
    let db = await Emdb.open<Buffer>(file, options);
    try {
      const stats = await db.stats();
      expect(stats.recovery.mode).toBe('full');
      expect(stats.cache?.bytes).toBe(TINY);
      await expectModelThroughRange(db, model);
      await db.insert('key-after', valueOf(1, 9));
      model.set('key-after', valueOf(1, 9));
    } finally {
      await db.close();
    }
    db = await Emdb.open<Buffer>(file, options);
    try {
      await expectModelThroughRange(db, model);
    } finally {
      await db.close();
    }
  });

  it('cuts crash residue after the last record (zeros and a stray magic), keeping every acknowledged value', async () => {
    const { file, model } = await withoutSnapshot(newDir());
    const size = fs.statSync(file).size;
    const residue = Buffer.alloc(3 * PAGE);
    // A record magic in the residue: the damage scan must look past it and still find no durable mark.
    Buffer.from('454d4452', 'hex').copy(residue, PAGE + 5);
    fs.appendFileSync(file, residue);
    const db = await Emdb.open<Buffer>(file, { rangeScans: true, cacheSize: TINY });
    try {
      const stats = await db.stats();
      expect(stats.recovery.truncatedBytes).toBe(residue.length);
      expect(fs.statSync(file).size).toBe(size);
      await expectModelThroughRange(db, model);
    } finally {
      await db.close();
    }
  });

  it('refuses damage before the checkpointed tail with ERR_EMDB_CORRUPTION at its offset, the file unchanged', async () => {
    const { file, model } = await withoutSnapshot(newDir());
    const buf = fs.readFileSync(file);
    const rec = liveRecordAfter(buf, model, 3 * PAGE);
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.from([buf[rec.end - 1]! ^ 0x10]), 0, 1, rec.end - 1);
    fs.closeSync(fd);
    const before = sha(file);
    const error = await Emdb.open<Buffer>(file, { cacheSize: TINY }).then(
      async (db) => {
        await db.close();
        return undefined;
      },
      (err: unknown) => err,
    );
    expect(error).toMatchObject({ code: ErrorCode.CORRUPTION });
    expect((error as { offset?: number }).offset).toBe(rec.start);
    expect(sha(file)).toBe(before);
  });
});
