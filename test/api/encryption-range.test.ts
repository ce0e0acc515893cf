/**
 * Range scans on an encrypted database: the sorted index persisted in the
 * index snapshot is sealed (encryption-plaintext-scan.test.ts checks no key is
 * in it in the clear), and still loads on reopen with the right key; a
 * snapshot whose sealed section was edited (CRCs fixed up) is not trusted: the
 * sorted index is rebuilt, with the same answers. Compaction re-points it.
 */
import { crc32 } from '@node-rs/crc32';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, tempDirs } from '../helpers/common.js';

const keysOf = (rows: [Buffer, Buffer][]): string[] => rows.map(([k]) => k.toString());

describe('range scans on an encrypted database', () => {
  const newDir = tempDirs();

  for (const cipher of ['aes-256-gcm', 'chacha20-poly1305'] as const) {
    it(`${cipher}: the sealed sorted section loads on reopen; an edited one is rebuilt`, async () => {
      const file = path.join(newDir(), 'r.emdb');
      const encryption = { key: randomBytes(32), cipher };
      const keys = Array.from({ length: 2000 }, (_, i) => `k${String(i).padStart(5, '0')}`);
      let db = await Emdb.open(file, { rangeScans: true, readers: 1, encryption });
      await db.insertMany(keys.map((k) => [k, `v-${k}`] as [string, string]));
      await db.compact();
      await db.remove('k00001');
      expect(keysOf(await db.range('k00000', 'k00003'))).toEqual(['k00000', 'k00002']);
      await db.close();

      db = await Emdb.open(file, { rangeScans: true, readers: 1, encryption });
      expect((await db.stats()).sortedIndex).toMatchObject({ loadedFrom: 'snapshot', runs: 1 });
      const all = await db.range(null, null);
      expect(all.length).toBe(1999);
      expect(all[1]![1].toString()).toBe('v-k00002');
      await db.close();

      // Flip a byte of the sealed run and fix up the section's run CRC and header CRC: only authentication catches it.
      const snap = fs.readFileSync(`${file}.index`);
      expect(snap.readUInt32LE(104) & 1).toBe(1);
      const at = 128 + Number(snap.readBigUInt64LE(92));
      const runStart = at + 48;
      snap[runStart + 40]! ^= 0x01;
      snap.writeUInt32LE(crc32(snap.subarray(runStart)), at + 36);
      snap.writeUInt32LE(crc32(snap.subarray(at, at + 44)), at + 44);
      fs.writeFileSync(`${file}.index`, snap);
      db = await Emdb.open(file, { rangeScans: true, readers: 1, encryption });
      expect((await db.stats()).recovery.mode).toBe('snapshot');
      expect((await db.stats()).sortedIndex).toMatchObject({ loadedFrom: 'rebuilt' });
      expect(keysOf(await db.range('k00000', 'k00003'))).toEqual(['k00000', 'k00002']);
      expect((await db.range(null, null)).length).toBe(1999);
      await db.close();
    }, 60_000);
  }
});
