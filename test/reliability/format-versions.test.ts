/**
 * Format 3 is what new databases get; format 2 files keep opening, keep their
 * version through writes, flushes and checkpoints (no record kind of format 3
 * is appended to them, so the build that made them still reads them), and
 * compact() upgrades them to format 3. New format 3 files carry durable marks
 * once writes are flushed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from '@node-rs/crc32';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Emdb, rmrf, tmpDir } from '../helpers/common.js';
import { PRELUDE_CRC, PRELUDE_VERSION, walkRecords } from '../helpers/log-image.js';

/** docs/FORMAT.md: record kinds defined from format 3. */
const DURABLE_MARK = 8;
const PREFIX_DELETE = 9;
const PRELUDE_VALUE_ENCODING = 136;

async function writeFlushed(file: string, prefix: string, n: number): Promise<void> {
  const db = await Emdb.open(file, { readers: 1 });
  for (let i = 0; i < n; i++) {
    await db.insert(`${prefix}${i}`, `value ${i}`);
    await db.flush();
  }
  await db.close();
}

describe('format versions', () => {
  let dir: string;
  beforeAll(() => (dir = tmpDir('emdb-format-versions-')));
  afterAll(() => rmrf(dir));

  it('a new database is format 3, records its value encoding, and carries durable marks after flushes', async () => {
    const file = path.join(dir, 'new.emdb');
    await writeFlushed(file, 'k', 20);
    const buf = fs.readFileSync(file);
    expect(buf.readUInt32LE(PRELUDE_VERSION)).toBe(3);
    expect(buf[PRELUDE_VALUE_ENCODING]).toBe(1);
    const kinds = walkRecords(buf).records.map((r) => r.kind);
    expect(kinds.filter((k) => k === DURABLE_MARK).length).toBeGreaterThanOrEqual(19);
  });

  it('a format 2 file stays format 2 with no format 3 record kinds, and compact() upgrades it', async () => {
    const file = path.join(dir, 'old.emdb');
    // A format 2 image: a database with no durable mark in it yet (one batch, no flush between writes), relabelled.
    const db = await Emdb.open(file, { readers: 1 });
    await db.insertMany([
      ['a', '1'],
      ['b', '2'],
    ]);
    await db.close();
    const buf = fs.readFileSync(file);
    expect(walkRecords(buf).records.some((r) => r.kind >= DURABLE_MARK)).toBe(false);
    buf.writeUInt32LE(2, PRELUDE_VERSION);
    buf[PRELUDE_VALUE_ENCODING] = 0;
    buf.writeUInt32LE(crc32(buf.subarray(0, PRELUDE_CRC)), PRELUDE_CRC);
    fs.writeFileSync(file, buf);

    await writeFlushed(file, 'v2-', 10);
    const after = fs.readFileSync(file);
    expect(after.readUInt32LE(PRELUDE_VERSION)).toBe(2);
    expect(walkRecords(after).records.filter((r) => r.kind === DURABLE_MARK || r.kind === PREFIX_DELETE)).toEqual([]);

    const again = await Emdb.open(file, { readers: 1, valueEncoding: 'utf8' });
    try {
      expect(again.getSync('a')).toBe('1');
      expect(again.getSync('v2-9')).toBe('value 9');
      await again.compact();
    } finally {
      await again.close();
    }
    const compacted = fs.readFileSync(file);
    expect(compacted.readUInt32LE(PRELUDE_VERSION)).toBe(3);
    // Nothing proves which encoding the old values were written with: still not recorded.
    expect(compacted[PRELUDE_VALUE_ENCODING]).toBe(0);
    const reopened = await Emdb.open(file, { readers: 1 });
    try {
      expect(reopened.getSync('v2-3')?.toString()).toBe('value 3');
      expect(await reopened.len()).toBe(12);
    } finally {
      await reopened.close();
    }
  });
});
