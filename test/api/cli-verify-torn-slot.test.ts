/**
 * verify and a header slot that fails its checksum (outside report: "result
 * ok" and the older slot's tail, with no word about the failed slot). A torn
 * slot write is normal crash residue and open falls back to the other slot,
 * so verify still exits 0, but says which slot failed and which one is used;
 * with both slots failing, open refuses the file and verify exits 3.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Emdb, run, tmp } from './cli-helpers.js';

const dir = tmp();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const SLOT_A = 4096;
const SLOT_B = 8192;
let image: Buffer;
let newest: number;

beforeAll(async () => {
  const file = path.join(dir, 'source.emdb');
  const db = await Emdb.open(file, { readers: 1 });
  for (let i = 0; i < 100; i++) await db.insert(`k${i}`, `v${i}`);
  await db.checkpoint();
  await db.insert('x', 'y');
  await db.close();
  image = fs.readFileSync(file);
  newest = image.readBigUInt64LE(SLOT_A + 8) > image.readBigUInt64LE(SLOT_B + 8) ? SLOT_A : SLOT_B;
});

function damaged(name: string, slots: number[]): string {
  const bytes = Buffer.from(image);
  for (const s of slots) bytes[s + 20]! ^= 0xff;
  const file = path.join(dir, `${name}.emdb`);
  fs.writeFileSync(file, bytes);
  return file;
}

describe('verify: a header slot that fails its checksum', () => {
  it('the newest slot torn: exit 0 (open falls back), and the report names the failed slot and the one used', async () => {
    const file = damaged('newest', [newest]);
    const failed = newest === SLOT_A ? 'A' : 'B';
    const used = newest === SLOT_A ? 'B' : 'A';
    const r = await run(['verify', file]);
    const out = r.stdout.toString();
    expect(r.code, out).toBe(0);
    expect(out).toMatch(new RegExp(`header slots\\s+slot ${failed} fails its checksum; open falls back to slot ${used} \\(sequence \\d+\\)`));
    expect(out).toContain('result        ok');
    const j = JSON.parse((await run(['verify', file, '--json'])).stdout.toString()) as { ok: boolean; slots: Record<string, string> };
    expect(j.ok).toBe(true);
    expect(j.slots).toMatchObject({ [failed.toLowerCase()]: 'bad-checksum', [used.toLowerCase()]: 'ok', used });
    // Open accepts the file: what verify's exit 0 stands for.
    const db = await Emdb.open(file, { readers: 1 });
    expect(db.getSync('k5')?.toString()).toBe('v5');
    await db.close();
  });

  it('an intact file says nothing about its slots', async () => {
    const file = damaged('intact', []);
    const r = await run(['verify', file]);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).not.toContain('header slots');
  });

  it('both slots failing: exit 3 with ERR_EMDB_CORRUPTION, as open refuses it', async () => {
    const file = damaged('both', [SLOT_A, SLOT_B]);
    const r = await run(['verify', file]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('ERR_EMDB_CORRUPTION');
    await expect(Emdb.open(file, { readers: 1 })).rejects.toMatchObject({ code: 'ERR_EMDB_CORRUPTION' });
  });
});
