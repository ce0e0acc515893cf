/**
 * Outside report: a passphrase with a lone UTF-16 surrogate was accepted and
 * UTF-8 encoded to U+FFFD, so 'pw-\ud800', 'pw-\udfff', 'pw-\ud83d' and
 * 'pw-\ufffd' all opened one database. Such a passphrase is now refused with
 * ERR_EMDB_INVALID_CONFIG wherever one enters (open, enable / rotate `from` and
 * `to` / disable), before the disk is touched; the command line refuses a
 * passphrase file that is not UTF-8 (it decoded to U+FFFD the same way).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, EmdbError, tempDirs } from '../helpers/common.js';
import { run } from './cli-helpers.js';

const LONE = ['pw-\ud800', 'pw-\udfff', 'pw-\ud83d', '\udc00pw', 'pw-\ude00\ud83d'];
const sha = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await ((await p) as Emdb | undefined)?.close();
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(EmdbError);
    // The message names the field, never the passphrase.
    expect((err as Error).message).not.toContain('pw-');
    return (err as EmdbError).code;
  }
}

describe('passphrases with lone surrogates', () => {
  const newDir = tempDirs();

  it('refused at open and by every admin call, nothing created or changed; surrogate pairs are fine', async () => {
    const dir = newDir();
    const fresh = path.join(dir, 'fresh.emdb');
    for (const passphrase of LONE) {
      expect(await codeOf(Emdb.open(fresh, { readers: 1, encryption: { passphrase } })), JSON.stringify(passphrase)).toBe('ERR_EMDB_INVALID_CONFIG');
    }
    expect(fs.existsSync(fresh)).toBe(false);

    // A database made under the U+FFFD form (what a lone surrogate used to become) opens with it.
    const file = path.join(dir, 'db.emdb');
    const db = await Emdb.open(file, { readers: 1, encryption: { passphrase: 'pw-\ufffd' } });
    await db.insert('k', 'secret');
    await db.close();
    const before = sha(file);
    for (const passphrase of LONE) {
      expect(await codeOf(Emdb.open(file, { readers: 1, encryption: { passphrase } })), JSON.stringify(passphrase)).toBe('ERR_EMDB_INVALID_CONFIG');
      expect(await codeOf(Emdb.rotateEncryptionKey(file, { passphrase }, { passphrase: 'fine' })), `from ${JSON.stringify(passphrase)}`).toBe('ERR_EMDB_INVALID_CONFIG');
      expect(await codeOf(Emdb.rotateEncryptionKey(file, { passphrase: 'pw-\ufffd' }, { passphrase })), `to ${JSON.stringify(passphrase)}`).toBe('ERR_EMDB_INVALID_CONFIG');
      expect(await codeOf(Emdb.disableEncryption(file, { passphrase })), `disable ${JSON.stringify(passphrase)}`).toBe('ERR_EMDB_INVALID_CONFIG');
    }
    expect(sha(file)).toBe(before);

    const plain = path.join(dir, 'plain.emdb');
    await (await Emdb.open(plain, { readers: 1 })).close();
    const plainBefore = sha(plain);
    for (const passphrase of LONE) expect(await codeOf(Emdb.enableEncryption(plain, { passphrase })), JSON.stringify(passphrase)).toBe('ERR_EMDB_INVALID_CONFIG');
    expect(sha(plain)).toBe(plainBefore);

    // Well-formed text, astral characters included, is a passphrase like any other.
    const emoji = path.join(dir, 'emoji.emdb');
    await (await Emdb.open(emoji, { readers: 1, encryption: { passphrase: 'pw-\ud83d\ude00' } })).close();
    expect(await codeOf(Emdb.open(emoji, { readers: 1, encryption: { passphrase: 'pw-\ud83d\ude00' } }))).toBeUndefined();
    expect(await codeOf(Emdb.open(emoji, { readers: 1, encryption: { passphrase: 'pw-\ufffd' } }))).toBe('ERR_EMDB_ENCRYPTION_KEY_MISMATCH');
  }, 60_000);

  it('the command line refuses a passphrase file that is not UTF-8 (exit 1, ERR_EMDB_INVALID_CONFIG)', async () => {
    const dir = newDir();
    const file = path.join(dir, 'cli.emdb');
    const bad = path.join(dir, 'pass-bad');
    // 0xff never occurs in UTF-8; 0xed 0xa0 0x80 is a surrogate's (forbidden) encoding. Both decoded to U+FFFD.
    for (const bytes of [Buffer.from([0x70, 0x77, 0x2d, 0xff]), Buffer.from([0x70, 0x77, 0x2d, 0xed, 0xa0, 0x80, 0x0a])]) {
      fs.writeFileSync(bad, bytes);
      const r = await run(['put', file, 'k', 'v', '--passphrase-file', bad]);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain('ERR_EMDB_INVALID_CONFIG');
      expect(fs.existsSync(file)).toBe(false);
    }
    // A UTF-8 file (one trailing newline dropped) is the same passphrase as the API's.
    const good = path.join(dir, 'pass-good');
    fs.writeFileSync(good, 'pw-\u00e9\ud83d\ude00\n');
    const put = await run(['put', file, 'k', 'v', '--passphrase-file', good]);
    expect(put.code, put.stderr).toBe(0);
    const db = await Emdb.open(file, { readers: 1, encryption: { passphrase: 'pw-\u00e9\ud83d\ude00' } });
    expect(db.getSync('k')?.toString()).toBe('v');
    await db.close();
  }, 60_000);
});
