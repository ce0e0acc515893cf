/**
 * Argon2id parameters in the prelude (outside report): anyone who can write the
 * file can set them and fix the plain CRC. Memory up to 1 GiB and 64 passes were
 * accepted (an open then allocated 1 GiB and ran for minutes) and 2..4 GiB failed
 * with ERR_EMDB_IO ("maxmem" limit was hit). Now one range, the one creation
 * writes into, is accepted at open (memory 19..64 MiB, 2..4 passes, 1..4 lanes);
 * outside it the open is ERR_EMDB_CORRUPTION before anything is derived, and the
 * file is left as it was.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from '@node-rs/crc32';
import { describe, expect, it } from 'vitest';
import { Emdb, EmdbError, tempDirs } from '../helpers/common.js';

const PASS = 'correct horse battery staple';
const sha = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** The prelude's memory KiB, iterations and parallelism (bytes 40, 44, 48) set, and its CRC (252) fixed up. */
function forge(original: Buffer, m: number, t: number, p: number): Buffer {
  const b = Buffer.from(original);
  b.writeUInt32LE(m, 40);
  b.writeUInt32LE(t, 44);
  b.writeUInt32LE(p, 48);
  b.writeUInt32LE(crc32(b.subarray(0, 252)), 252);
  return b;
}

async function openCode(file: string): Promise<{ code: string | undefined; ms: number; offset?: number }> {
  const started = Date.now();
  try {
    await (await Emdb.open(file, { readers: 1, encryption: { passphrase: PASS } })).close();
    return { code: undefined, ms: Date.now() - started };
  } catch (err) {
    expect(err).toBeInstanceOf(EmdbError);
    return { code: (err as EmdbError).code, ms: Date.now() - started, offset: (err as EmdbError).offset };
  }
}

describe('forged Argon2id parameters in the prelude', () => {
  const newDir = tempDirs();

  it('outside the accepted range: ERR_EMDB_CORRUPTION at once (never ERR_EMDB_IO, never a long derivation), file unchanged', async () => {
    const file = path.join(newDir(), 'kdf.emdb');
    const db = await Emdb.open(file, { readers: 1, encryption: { passphrase: PASS } });
    await db.insert('a', 'b');
    await db.close();
    fs.rmSync(`${file}.index`, { force: true });
    const original = fs.readFileSync(file);
    // What creation writes: the defaults, inside the range an open accepts.
    expect([original.readUInt32LE(40), original.readUInt32LE(44), original.readUInt32LE(48)]).toEqual([19456, 2, 1]);

    // The ERR_EMDB_IO cases first: on the old code they fail fast, before the cases that derived for minutes.
    const outside: [number, number, number][] = [
      [2 ** 21, 1, 1], [3 * 2 ** 20, 1, 1], [4 * 2 ** 20, 1, 1], [2 ** 32 - 1, 2, 1],
      [2 ** 20, 64, 1], [2 ** 20, 2, 1], [65537, 2, 1], [19456, 5, 1], [19456, 64, 1], [19456, 2 ** 31, 1],
      [19455, 2, 1], [8, 2, 1], [19456, 1, 1], [19456, 0, 1], [0, 2, 1], [19456, 2, 0], [19456, 2, 5], [19456, 2, 255],
    ];
    for (const [m, t, p] of outside) {
      fs.writeFileSync(file, forge(original, m, t, p));
      const before = sha(file);
      const r = await openCode(file);
      expect(r.code, `m=${m} t=${t} p=${p}`).toBe('ERR_EMDB_CORRUPTION');
      expect(r.offset, `m=${m} t=${t} p=${p}`).toBe(40);
      // Refused before the derivation: the time of an open, not of Argon2id (generous for a loaded CI box).
      expect(r.ms, `m=${m} t=${t} p=${p}`).toBeLessThan(10_000);
      expect(sha(file)).toBe(before);
    }

    // Inside the range, the derivation runs and the key check (whose associated data covers the parameters) refuses it.
    for (const [m, t, p] of [[19456, 3, 1], [65536, 4, 4]] as const) {
      fs.writeFileSync(file, forge(original, m, t, p));
      expect((await openCode(file)).code, `m=${m} t=${t} p=${p}`).toBe('ERR_EMDB_ENCRYPTION_KEY_MISMATCH');
    }

    // The file as created still opens.
    fs.writeFileSync(file, original);
    const again = await Emdb.open(file, { readers: 1, encryption: { passphrase: PASS } });
    expect(again.getSync('a')?.toString()).toBe('b');
    await again.close();
  }, 120_000);
});
