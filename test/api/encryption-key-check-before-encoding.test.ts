/**
 * Outside report: a wrong key opened with the default valueEncoding on a 'json'
 * database was refused as the value-encoding mismatch (ERR_EMDB_INVALID_CONFIG),
 * while README promises ERR_EMDB_ENCRYPTION_KEY_MISMATCH "before any record is
 * read". The key check now comes first; the mode mismatches (a plaintext file
 * opened with a key, an encrypted one without) keep ERR_EMDB_INVALID_CONFIG.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, EmdbError, tempDirs } from '../helpers/common.js';

async function openError(file: string, options: object): Promise<EmdbError | undefined> {
  try {
    await (await Emdb.open(file, { readers: 1, ...options })).close();
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(EmdbError);
    return err as EmdbError;
  }
}

describe('the key check comes before the value-encoding check', () => {
  const newDir = tempDirs();

  it('wrong key or passphrase with another valueEncoding: ERR_EMDB_ENCRYPTION_KEY_MISMATCH; modes keep their codes', async () => {
    const dir = newDir();
    const key = randomBytes(32);
    const keyed = path.join(dir, 'keyed.emdb');
    const db = await Emdb.open(keyed, { readers: 1, valueEncoding: 'json', encryption: { key } });
    await db.insert('a', { n: 1 });
    await db.close();
    const phrased = path.join(dir, 'phrased.emdb');
    await (await Emdb.open(phrased, { readers: 1, valueEncoding: 'utf8', encryption: { passphrase: 'right phrase' } })).close();

    for (const valueEncoding of [undefined, 'binary', 'utf8', 'msgpack', 'json'] as const) {
      const enc = valueEncoding ? { valueEncoding } : {};
      expect((await openError(keyed, { ...enc, encryption: { key: randomBytes(32) } }))?.code, `key, ${valueEncoding}`).toBe('ERR_EMDB_ENCRYPTION_KEY_MISMATCH');
      expect((await openError(phrased, { ...enc, encryption: { passphrase: 'wrong phrase' } }))?.code, `passphrase, ${valueEncoding}`).toBe('ERR_EMDB_ENCRYPTION_KEY_MISMATCH');
    }
    // The right key with another encoding is still the encoding mismatch, named as such.
    const mismatch = await openError(keyed, { encryption: { key } });
    expect(mismatch?.code).toBe('ERR_EMDB_INVALID_CONFIG');
    expect(mismatch?.message).toMatch(/valueEncoding 'json'/);
    expect(await openError(keyed, { valueEncoding: 'json', encryption: { key } })).toBeUndefined();

    // An encrypted file without the option, a plaintext one with it: the mode, whatever the encoding.
    const noKey = await openError(keyed, {});
    expect(noKey?.code).toBe('ERR_EMDB_INVALID_CONFIG');
    expect(noKey?.message).toMatch(/is encrypted/);
    const plain = path.join(dir, 'plain.emdb');
    await (await Emdb.open(plain, { readers: 1, valueEncoding: 'json' })).close();
    const withKey = await openError(plain, { encryption: { key } });
    expect(withKey?.code).toBe('ERR_EMDB_INVALID_CONFIG');
    expect(withKey?.message).toMatch(/not encrypted/);
  }, 60_000);
});
