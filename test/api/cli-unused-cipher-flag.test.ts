/**
 * Outside report: `emdb-js rekey ... --cipher chacha20-poly1305` exited 0 and
 * kept AES-256-GCM (the new cipher is --new-cipher, which rekey's --help never
 * named). --cipher is now refused (exit 1, ERR_EMDB_INVALID_CONFIG, the file
 * untouched) by every command that would ignore it, rekey's message points to
 * --new-cipher, and its help lists every --new-* flag; put, load and encrypt,
 * which create a database, still take it.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Emdb, run, tmp } from './cli-helpers.js';

const A = randomBytes(32);
const B = randomBytes(32);
const env = { EMDB_KEY_A: A.toString('hex'), EMDB_KEY_B: B.toString('hex') };
const dir = tmp();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const sha = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
/** Prelude byte 20: 1 AES-256-GCM, 2 ChaCha20-Poly1305. */
const cipherId = (file: string): number => fs.readFileSync(file)[20]!;

describe('--cipher where it would be ignored', () => {
  it('rekey refuses --cipher, pointing to --new-cipher; --new-cipher switches; the help lists the --new-* flags', async () => {
    const db = path.join(dir, 'rekey.emdb');
    const put = await run(['put', db, 'a', 'b', '--encryption-key-env', 'EMDB_KEY_A', '-q'], { env });
    expect(put.code, put.stderr).toBe(0);
    expect(cipherId(db)).toBe(1);
    const before = sha(db);

    const r = await run(['rekey', db, '--encryption-key-env', 'EMDB_KEY_A', '--new-encryption-key-env', 'EMDB_KEY_B', '--cipher', 'chacha20-poly1305'], { env });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('ERR_EMDB_INVALID_CONFIG');
    expect(r.stderr).toContain('--new-cipher');
    const j = await run(['rekey', db, '--encryption-key-env', 'EMDB_KEY_A', '--new-encryption-key-env', 'EMDB_KEY_B', '--cipher', 'chacha20-poly1305', '--json'], { env });
    expect(JSON.parse(j.stderr)).toMatchObject({ error: { exitCode: 1, code: 'ERR_EMDB_INVALID_CONFIG' } });
    expect(sha(db)).toBe(before);

    const ok = await run(['rekey', db, '--encryption-key-env', 'EMDB_KEY_A', '--new-encryption-key-env', 'EMDB_KEY_B', '--new-cipher', 'chacha20-poly1305', '-q'], { env });
    expect(ok.code, ok.stderr).toBe(0);
    expect(cipherId(db)).toBe(2);
    const d = await Emdb.open(db, { readers: 1, encryption: { key: B } });
    expect(d.getSync('a')?.toString()).toBe('b');
    await d.close();

    const help = (await run(['rekey', '--help'])).stdout.toString();
    for (const flag of ['--new-encryption-key-file', '--new-encryption-key-env', '--new-passphrase-file', '--new-passphrase-env', '--new-cipher']) expect(help).toContain(flag);
  });

  it('every command that creates no database refuses --cipher and leaves the file as it was; put, load and encrypt take it', async () => {
    const db = path.join(dir, 'other.emdb');
    expect((await run(['put', db, 'a', 'b', '--encryption-key-env', 'EMDB_KEY_A', '-q'], { env })).code).toBe(0);
    const before = sha(db);
    const key = ['--encryption-key-env', 'EMDB_KEY_A'];
    const cmds: string[][] = [
      ['get', db, 'a'], ['del', db, 'a'], ['stats', db], ['namespaces', db], ['scan', db], ['dump', db, '--plaintext'],
      ['dump', db, '--salvage'], ['verify', db], ['compact', db, '--force'], ['backup', db, path.join(dir, 'copy.emdb')], ['decrypt', db],
    ];
    for (const args of cmds) {
      const r = await run([...args, ...key, '--cipher', 'aes-256-gcm'], { env });
      expect(r.code, `${args[0]} ${r.stderr}`).toBe(1);
      expect(r.stderr, args[0]).toContain('ERR_EMDB_INVALID_CONFIG');
      expect(r.stderr, args[0]).toContain('--cipher');
      expect(sha(db), args[0]).toBe(before);
    }
    expect(fs.existsSync(path.join(dir, 'copy.emdb'))).toBe(false);
    expect((await run(['get', '--help'])).stdout.toString()).not.toContain('--cipher');

    // The commands that create one: the cipher is the new file's.
    const made = path.join(dir, 'made.emdb');
    expect((await run(['put', made, 'a', 'b', ...key, '--cipher', 'chacha20-poly1305', '-q'], { env })).code).toBe(0);
    expect(cipherId(made)).toBe(2);
    const dump = await run(['dump', made, ...key, '--plaintext'], { env });
    const loaded = path.join(dir, 'loaded.emdb');
    const load = await run(['load', loaded, ...key, '--cipher', 'chacha20-poly1305', '-q'], { env, input: dump.stdout });
    expect(load.code, load.stderr).toBe(0);
    expect(cipherId(loaded)).toBe(2);
    const plain = path.join(dir, 'plain.emdb');
    expect((await run(['put', plain, 'a', 'b', '-q'])).code).toBe(0);
    const enc = await run(['encrypt', plain, ...key, '--cipher', 'chacha20-poly1305', '-q'], { env });
    expect(enc.code, enc.stderr).toBe(0);
    expect(cipherId(plain)).toBe(2);
    expect((await run(['put', '--help'])).stdout.toString()).toContain('--cipher');
  });
});
