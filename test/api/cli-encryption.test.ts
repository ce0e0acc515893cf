/**
 * The CLI's encryption commands end to end in a child process: encrypt a
 * plaintext database, verify it with the key (authenticated), without it
 * (framing only, said so), with a wrong key (exit 3, key mismatch, file
 * unchanged) and after a sealed byte is flipped (exit 3 with the offset:
 * authentication, not the CRC, catches it); then decrypt back to the same
 * contents. Secrets travel by environment variable and file, never argv.
 */
import { createHash, randomBytes } from 'node:crypto';
import { crc32 } from '@node-rs/crc32';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contents, Emdb, run, tmp } from './cli-helpers.js';

const KEY = randomBytes(32);
const WRONG = randomBytes(32);
const env = { EMDB_TEST_KEY: KEY.toString('hex'), EMDB_TEST_WRONG: WRONG.toString('hex') };
let dir: string;

const sha = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

beforeAll(() => {
  dir = tmp();
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function seed(db: string): Promise<void> {
  const d = await Emdb.open(db, { readers: 1 });
  for (let i = 0; i < 30; i++) await d.insert(`k${i}`, `value-${i}`);
  await d.transaction((tx) => {
    tx.insert('tx-a', 'A');
    tx.insert('tx-b', 'B');
  });
  await (await d.namespace('ns')).insert('nk', 'nv');
  await d.close();
}

describe('emdb-js encrypt / verify / decrypt', () => {
  it('round trip with verify authenticating the encrypted file', async () => {
    const db = path.join(dir, 'rt.emdb');
    await seed(db);
    const before = await contents(db);

    const enc = await run(['encrypt', db, '--encryption-key-env', 'EMDB_TEST_KEY'], { env });
    expect(enc.code, enc.stderr).toBe(0);
    expect(fs.existsSync(`${db}.encbak`)).toBe(false);
    // The rewrite keeps live records, not transaction framing: a transaction written encrypted, whose framing is sealed.
    const d = await Emdb.open(db, { readers: 1, encryption: { key: KEY } });
    await d.transaction(async (tx) => {
      tx.insert('enc-a', 'A');
      tx.insert('enc-b', 'B');
    });
    await d.close();
    before.push(`\t${Buffer.from('enc-a').toString('hex')}\t${Buffer.from('A').toString('hex')}`, `\t${Buffer.from('enc-b').toString('hex')}\t${Buffer.from('B').toString('hex')}`);
    before.sort();

    const v = await run(['verify', db, '--json', '--encryption-key-env', 'EMDB_TEST_KEY'], { env });
    expect(v.code, v.stderr).toBe(0);
    const report = JSON.parse(v.stdout.toString());
    expect(report).toMatchObject({ ok: true, encrypted: true, authenticated: true, transactions: 1 });

    const bare = await run(['verify', db, '--json']);
    expect(bare.code, bare.stderr).toBe(0);
    expect(JSON.parse(bare.stdout.toString())).toMatchObject({ ok: true, encrypted: true, authenticated: false });

    const keyFile = path.join(dir, 'key.hex');
    fs.writeFileSync(keyFile, KEY.toString('hex'));
    const dec = await run(['decrypt', db, '--encryption-key-file', keyFile]);
    expect(dec.code, dec.stderr).toBe(0);
    expect(await contents(db)).toEqual(before);
    const plain = await run(['verify', db, '--json']);
    expect(JSON.parse(plain.stdout.toString())).toMatchObject({ ok: true, encrypted: false });
  });

  it('verify with a wrong key exits 3 with a key mismatch and leaves the file as it was', async () => {
    const db = path.join(dir, 'wrong.emdb');
    await seed(db);
    expect((await run(['encrypt', db, '--encryption-key-env', 'EMDB_TEST_KEY'], { env })).code).toBe(0);
    const hash = sha(db);
    const v = await run(['verify', db, '--encryption-key-env', 'EMDB_TEST_WRONG'], { env });
    expect(v.code).toBe(3);
    expect(v.stderr).toContain('ERR_EMDB_ENCRYPTION_KEY_MISMATCH');
    expect(v.stderr).not.toContain(WRONG.toString('hex'));
    expect(sha(db)).toBe(hash);
  });

  it('a sealed byte flipped with its CRC fixed up passes the CRC walk but fails authentication', async () => {
    const db = path.join(dir, 'tamper.emdb');
    await seed(db);
    expect((await run(['encrypt', db, '--encryption-key-env', 'EMDB_TEST_KEY'], { env })).code).toBe(0);
    // The first sealed unit after the header pages (FORMAT.md "Sealed units": a 72-byte opener of kind 10, region
    // bytes at 44, region CRC at 52): flip a ciphertext byte, then recompute the region CRC and the opener CRC.
    const image = fs.readFileSync(db);
    const frame = (off: number): number => 32 + image.readUInt32LE(off + 16) + image.readUInt32LE(off + 20);
    let at = 12288;
    while (image[at + 8] !== 10) at += frame(at);
    const len = 72 + image.readUInt32LE(at + 44);
    image[at + len - 20]! ^= 0x01;
    image.writeUInt32LE(crc32(image.subarray(at + 72, at + len)), at + 52);
    image.writeUInt32LE(crc32(image.subarray(at + 8, at + 72)), at + 4);
    fs.writeFileSync(db, image);
    const hash = sha(db);

    const bare = await run(['verify', db, '--json']);
    const bareReport = JSON.parse(bare.stdout.toString());
    expect(bareReport.authenticated).toBe(false);
    expect(bareReport.damage).toBeUndefined();
    const v = await run(['verify', db, '--json', '--encryption-key-env', 'EMDB_TEST_KEY'], { env });
    expect(v.code).toBe(3);
    const report = JSON.parse(v.stdout.toString());
    expect(report.damage.offset).toBe(at);
    expect(report.damage.reason).toContain('authentication');
    expect(sha(db)).toBe(hash);
  });
});
