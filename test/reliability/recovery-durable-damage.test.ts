/**
 * Damage after the last checkpoint (issue 12, defect 6). Recovery used to take
 * everything after the tail hint for crash residue, so one flipped bit in the
 * middle of 1,000 flushed records silently dropped the 500 after it. Format 3
 * puts a durable mark (the LSN fdatasync'ed so far) before each batch written
 * after a sync; a later intact mark whose value is past the damage proves the
 * damaged bytes had been durable:
 * - the default open refuses with ERR_EMDB_CORRUPTION at the damaged record and
 *   leaves the file byte-identical;
 * - `recovery: 'salvage'` cuts the log there and says so in stats().recovery;
 * - damage that no mark proves durable (a hole among records that were never
 *   synced, as after a power loss) is still cut silently, and stats().recovery
 *   says what was cut.
 *
 * The crash images are made by the writer engine on this thread (no checkpoint
 * timer runs there), with every record flushed and the process "killed" by
 * dropping its descriptors without a close.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeFileIO } from '../../dist/src/log/file-io.js';
import { trackedFileIO } from '../../dist/test/helpers/tracked-io.js';
import { Emdb, EmdbError, ErrorCode, rmrf, tmpDir } from '../helpers/common.js';
import { activeTailHint, DATA_START, Kind, walkRecords } from '../helpers/log-image.js';
import { encodeUnits, newEngine } from '../helpers/sim/engine-harness.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const RECORDS = 1000;
const key = (i: number): string => `key-${String(i).padStart(4, '0')}`;
const value = (i: number): string => `value ${i} `.repeat(4);

/**
 * Writes `flushed` puts, each flushed (onEachFlush, one sync per record), then
 * `unsynced` puts with no flush, and abandons the engine like a killed process.
 */
function crashImage(file: string, flushed: number, unsynced: number): Buffer {
  const fds = new Set<number>();
  const engine = newEngine(trackedFileIO(fds), { kind: 'onEachFlush' }, file);
  try {
    engine.open();
    for (let i = 0; i < flushed + unsynced; i++) {
      const { batch, records } = encodeUnits([{ t: 'put', k: key(i), v: value(i) }]);
      engine.append(batch, false, records);
      if (i < flushed) engine.flush();
    }
  } finally {
    for (const fd of fds) nodeFileIO.close(fd);
  }
  return fs.readFileSync(file);
}

/** The PUT records of an image, in log order (durable marks and framing left out). */
function puts(image: Buffer): { start: number; end: number }[] {
  return walkRecords(image).records.filter((r) => r.kind === Kind.PUT);
}

async function openError(file: string, options: object = {}): Promise<EmdbError> {
  try {
    const db = await Emdb.open(file, { readers: 1, ...options });
    await db.close();
  } catch (err) {
    return err as EmdbError;
  }
  throw new Error('open succeeded');
}

describe('damage after the tail hint that a later durable mark proves durable', () => {
  let dir: string;
  let damaged: Buffer;
  let badAt: number;
  const middle = RECORDS / 2;

  beforeAll(() => {
    dir = tmpDir('emdb-durable-damage-');
    const image = crashImage(path.join(dir, 'source.emdb'), RECORDS, 0);
    expect(activeTailHint(image)).toBe(DATA_START);
    const records = puts(image);
    expect(records).toHaveLength(RECORDS);
    // One bit inside the value of the middle record.
    const victim = records[middle]!;
    badAt = victim.start;
    damaged = Buffer.from(image);
    damaged[victim.end - 3]! ^= 0x10;
  });

  afterAll(() => rmrf(dir));

  it('is refused with ERR_EMDB_CORRUPTION at the damaged record, and the file is left byte-identical', async () => {
    const file = path.join(dir, 'strict.emdb');
    fs.writeFileSync(file, damaged);
    const before = sha(fs.readFileSync(file));
    for (const attempt of [1, 2]) {
      const err = await openError(file);
      expect(err, `attempt ${attempt}`).toBeInstanceOf(EmdbError);
      expect(err.code).toBe(ErrorCode.CORRUPTION);
      expect(err.offset).toBe(badAt);
      expect(err.message).toContain(String(badAt));
      expect(sha(fs.readFileSync(file))).toBe(before);
    }
    expect(fs.existsSync(`${file}.index`)).toBe(false);
  });

  it("recovery: 'salvage' cuts the log at the damage, keeps every record before it and reports the cut", async () => {
    const file = path.join(dir, 'salvage.emdb');
    fs.writeFileSync(file, damaged);
    const db = await Emdb.open(file, { readers: 1, recovery: 'salvage' });
    try {
      for (let i = 0; i < middle; i++) expect(db.getSync(key(i))?.toString(), key(i)).toBe(value(i));
      for (let i = middle; i < RECORDS; i++) expect(db.getSync(key(i)), key(i)).toBeUndefined();
      const { recovery } = await db.stats();
      expect(recovery.salvaged).toBe(true);
      expect(recovery.corruptionAt).toBe(badAt);
      expect(recovery.residueAt).toBe(badAt);
      expect(recovery.truncatedBytes).toBe(damaged.length - badAt);
      expect(recovery.droppedRecords).toBe(RECORDS - middle - 1);
      // The salvaged log takes writes that survive a reopen.
      await db.insert('after', 'salvage');
      await db.flush();
    } finally {
      await db.close();
    }
    const again = await Emdb.open(file, { readers: 1 });
    try {
      expect(again.getSync('after')?.toString()).toBe('salvage');
      expect(again.getSync(key(middle - 1))?.toString()).toBe(value(middle - 1));
      expect((await again.stats()).recovery.salvaged).toBe(false);
    } finally {
      await again.close();
    }
  });

  it('an unknown recovery mode is refused', async () => {
    const err = await openError(path.join(dir, 'never.emdb'), { recovery: 'lenient' });
    expect(err.code).toBe(ErrorCode.INVALID_CONFIG);
    expect(fs.existsSync(path.join(dir, 'never.emdb'))).toBe(false);
  });
});

describe('a hole among records that were never durable is crash residue', () => {
  let dir: string;
  beforeAll(() => (dir = tmpDir('emdb-residue-hole-')));
  afterAll(() => rmrf(dir));

  it('is cut silently, and stats().recovery says how many bytes and intact records were cut', async () => {
    const flushed = 20;
    const unsynced = 300;
    const image = crashImage(path.join(dir, 'source.emdb'), flushed, unsynced);
    const records = puts(image);
    expect(records).toHaveLength(flushed + unsynced);
    // A 4 KiB page in the middle of the unsynced records never reached the disk (zeros).
    const page = Math.floor(records[flushed + unsynced / 2]!.start / 4096) * 4096;
    const holed = Buffer.from(image);
    holed.fill(0, page, page + 4096);
    const firstBad = records.findIndex((r) => r.end > page);
    const cutAt = records[firstBad]!.start;
    const intactAfter = records.filter((r) => r.start >= page + 4096).length;
    expect(firstBad).toBeGreaterThan(flushed);
    expect(intactAfter).toBeGreaterThan(50);

    const file = path.join(dir, 'holed.emdb');
    fs.writeFileSync(file, holed);
    const db = await Emdb.open(file, { readers: 1 });
    try {
      for (let i = 0; i < firstBad; i++) expect(db.getSync(key(i))?.toString(), key(i)).toBe(value(i));
      for (let i = firstBad; i < flushed + unsynced; i++) expect(db.getSync(key(i)), key(i)).toBeUndefined();
      const { recovery } = await db.stats();
      expect(recovery.salvaged).toBe(false);
      expect(recovery.corruptionAt).toBeNull();
      expect(recovery.residueAt).toBe(cutAt);
      expect(typeof recovery.residueReason).toBe('string');
      expect(recovery.truncatedBytes).toBe(holed.length - cutAt);
      expect(recovery.droppedRecords).toBe(intactAfter);
    } finally {
      await db.close();
    }
    expect(fs.statSync(file).size).toBeLessThan(holed.length);
  });

  it('a clean open reports nothing cut', async () => {
    const file = path.join(dir, 'clean.emdb');
    const db = await Emdb.open(file, { readers: 1 });
    await db.insert('a', 'b');
    await db.close();
    const again = await Emdb.open(file, { readers: 1 });
    try {
      const { recovery } = await again.stats();
      expect(recovery).toMatchObject({ truncatedBytes: 0, droppedRecords: 0, residueAt: null, residueReason: null, salvaged: false, corruptionAt: null });
    } finally {
      await again.close();
    }
  });
});
