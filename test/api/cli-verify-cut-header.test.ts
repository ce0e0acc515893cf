/**
 * A database file cut inside its 12 KiB header area (outside report): verify
 * printed "result ok" and exit 0 (the missing bytes read as zeros: an empty
 * slot, a log of nothing), and open called it ERR_EMDB_NOT_A_DATABASE, which
 * sends the operator to check the path. Creation is atomic (temp file, sync,
 * rename), so a short file that starts with our magic is damage: both say
 * ERR_EMDB_CORRUPTION with the offset where the file ends, and neither
 * changes a byte of it. A short file without the magic stays NOT_A_DATABASE.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Emdb, ErrorCode, run, tmp } from './cli-helpers.js';

const dir = tmp();
let image: Buffer;
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

beforeAll(async () => {
  const file = path.join(dir, 'whole.emdb');
  const db = await Emdb.open(file, { readers: 1 });
  await db.insertMany(Array.from({ length: 1000 }, (_, i) => [`key${i}`, `value ${i}`] as const));
  await db.close();
  image = fs.readFileSync(file);
});

async function openError(file: string): Promise<{ code?: string; offset?: number; message?: string } | undefined> {
  return Emdb.open(file, { readers: 1 }).then(
    async (db) => void (await db.close()),
    (err: unknown) => err as { code: string; offset?: number; message: string },
  );
}

describe('a database cut inside its header area', () => {
  for (const size of [4200, 5000, 8192, 12287]) {
    it(`cut to ${size} bytes: verify exits 3 with the offset, open says CORRUPTION, the file is untouched`, async () => {
      const file = path.join(dir, `cut-${size}.emdb`);
      const cut = image.subarray(0, size);
      fs.writeFileSync(file, cut);
      const r = await run(['verify', file]);
      expect(r.code, r.stdout.toString()).toBe(3);
      expect(r.stdout.toString()).not.toContain('result        ok');
      expect(r.stderr).toContain('ERR_EMDB_CORRUPTION');
      expect(r.stderr).toContain(`offset ${size}`);
      const j = await run(['verify', file, '--json']);
      expect(j.code).toBe(3);
      expect(JSON.parse(j.stderr)).toMatchObject({ error: { exitCode: 3, code: 'ERR_EMDB_CORRUPTION' } });
      expect(await openError(file)).toMatchObject({ code: ErrorCode.CORRUPTION, offset: size });
      // The CLI's open path reports it the same way.
      const get = await run(['get', file, 'key1']);
      expect(get.code).toBe(3);
      expect(get.stderr).toContain('ERR_EMDB_CORRUPTION');
      expect(fs.readFileSync(file).equals(cut)).toBe(true);
    });
  }

  it('a short file without our magic is still not a database', async () => {
    const file = path.join(dir, 'short-foreign.bin');
    fs.writeFileSync(file, Buffer.alloc(5000, 0x41));
    expect(await openError(file)).toMatchObject({ code: ErrorCode.NOT_A_DATABASE });
    const r = await run(['verify', file]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('ERR_EMDB_NOT_A_DATABASE');
    expect(fs.readFileSync(file).equals(Buffer.alloc(5000, 0x41))).toBe(true);
  });
});
