/**
 * Encryption failures (issue 15): a wrong key or passphrase, a wrong mode,
 * a tampered record, prelude or header slot are each refused with their code,
 * leave the file byte-identical, and never put key material in an error or
 * in stats().
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { inspect } from 'node:util';
import { crc32 } from '@node-rs/crc32';
import { describe, expect, it } from 'vitest';
import { Emdb, EmdbError, tempDirs } from '../helpers/common.js';

const sha = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const DATA_START = 12288;

async function codeOf(p: Promise<unknown>): Promise<{ code: string | undefined; err: unknown; offset?: number }> {
  try {
    const db = (await p) as Emdb | undefined;
    await db?.close();
    return { code: undefined, err: undefined };
  } catch (err) {
    expect(err).toBeInstanceOf(EmdbError);
    return { code: (err as EmdbError).code, err, offset: (err as { offset?: number }).offset };
  }
}

/** Every top-level record of the log: offset, size, encrypted flag (a sealed unit, kind 10, counts whole: opener and region). */
function records(bytes: Buffer): { off: number; size: number; sealed: boolean; kind: number }[] {
  const out = [];
  for (let off = DATA_START; off + 32 <= bytes.length; ) {
    if (bytes.readUInt32LE(off) !== 0x52444d45) break;
    const flags = bytes[off + 9]!;
    const unit = bytes[off + 8] === 10;
    const size = unit ? 72 + bytes.readUInt32LE(off + 44) : 32 + bytes.readUInt32LE(off + 16) + bytes.readUInt32LE(off + 20) + ((flags & 1) !== 0 ? 36 : 0);
    out.push({ off, size, sealed: unit || (flags & 1) !== 0, kind: bytes[off + 8]! });
    off += size;
  }
  return out;
}

describe('encryption errors', () => {
  const newDir = tempDirs();
  const key = randomBytes(32);

  async function makeDb(dir: string, encryption: object = { key }): Promise<string> {
    const file = path.join(dir, 'e.emdb');
    const db = await Emdb.open(file, { readers: 1, encryption });
    for (let i = 0; i < 20; i++) await db.insert(`k${i}`, `v${i}`);
    await db.namespace('ns1');
    await db.close();
    fs.rmSync(`${file}.index`, { force: true });
    return file;
  }

  it('wrong key, wrong passphrase, wrong mode: refused with their codes, file unchanged, no secret in the error', async () => {
    const dir = newDir();
    const file = await makeDb(dir);
    const before = sha(file);
    const wrongKey = randomBytes(32);
    const r1 = await codeOf(Emdb.open(file, { readers: 1, encryption: { key: wrongKey } }));
    expect(r1.code).toBe('ERR_EMDB_ENCRYPTION_KEY_MISMATCH');
    const r2 = await codeOf(Emdb.open(file, { readers: 1, encryption: { passphrase: 'hunter2-secret-phrase' } }));
    expect(r2.code).toBe('ERR_EMDB_ENCRYPTION_KEY_MISMATCH');
    const r3 = await codeOf(Emdb.open(file, { readers: 1 }));
    expect(r3.code).toBe('ERR_EMDB_INVALID_CONFIG');
    const r4 = await codeOf(Emdb.open(file, { readers: 1, encryption: { key, cipher: 'chacha20-poly1305' } }));
    // The cipher is the file's: asking for another one at open is not an error, the file's is used.
    expect(r4.code).toBeUndefined();
    expect(sha(file)).toBe(before);
    for (const r of [r1, r2]) {
      const text = [String(r.err), (r.err as Error).stack, JSON.stringify(r.err), inspect(r.err, { depth: 5 })].join('\n');
      for (const secret of [wrongKey.toString('hex'), wrongKey.toString('base64'), key.toString('hex'), 'hunter2-secret-phrase']) expect(text).not.toContain(secret);
    }

    const plain = path.join(dir, 'plain.emdb');
    const p = await Emdb.open(plain, { readers: 1 });
    await p.insert('a', 'b');
    await p.close();
    const plainSha = sha(plain);
    expect((await codeOf(Emdb.open(plain, { readers: 1, encryption: { key } }))).code).toBe('ERR_EMDB_INVALID_CONFIG');
    expect(sha(plain)).toBe(plainSha);
  }, 30_000);

  it('bad encryption options are refused without echoing them', async () => {
    const dir = newDir();
    const file = path.join(dir, 'x.emdb');
    const short = randomBytes(31);
    for (const encryption of [{ key: short }, { key: 'not bytes' }, { passphrase: '' }, { key, passphrase: 'both' }, {}, { key, cipher: 'aes-128-cbc' }, { key, extra: 1 }]) {
      const r = await codeOf(Emdb.open(file, { readers: 1, encryption: encryption as never }));
      expect(r.code).toBe('ERR_EMDB_INVALID_CONFIG');
      expect(String(r.err)).not.toContain(short.toString('hex'));
    }
    expect(fs.existsSync(file)).toBe(false);
    expect((await codeOf(Emdb.openInMemory({ encryption: { key } }))).code).toBe('ERR_EMDB_INVALID_CONFIG');
  });

  it('stats() and the lock file hold no key material', async () => {
    const dir = newDir();
    const file = path.join(dir, 's.emdb');
    const db = await Emdb.open(file, { readers: 1, encryption: { key } });
    await db.insert('a', 'b');
    const stats = JSON.stringify(await db.stats());
    expect(stats).not.toContain(key.toString('hex'));
    for (const f of fs.readdirSync(dir)) expect(fs.readFileSync(path.join(dir, f)).includes(key)).toBe(false);
    await db.close();
  });

  it('a bit flipped in each field of an encrypted record, with or without its CRC fixed up: ERR_EMDB_CORRUPTION at its offset, file unchanged', async () => {
    const dir = newDir();
    const file = await makeDb(dir);
    const original = fs.readFileSync(file);
    const recs = records(original).filter((r) => r.sealed);
    expect(recs.length).toBeGreaterThan(20);
    const target = recs[5]!;
    // A sealed unit (new files, FORMAT.md "Sealed units"): opener header fields (magic, crc, kind, flags, reserved,
    // namespace, key len, value len, expiry), nonce (first and last byte), region bytes, record count, region CRC,
    // tag (first and last byte); region bytes.
    const fieldOffsets = [0, 4, 8, 9, 10, 12, 16, 20, 24, 32, 43, 44, 48, 52, 56, 71, 72, 72 + 20, target.size - 1];
    for (const field of fieldOffsets) {
      for (const fixCrc of [false, true]) {
        const bytes = Buffer.from(original);
        bytes[target.off + field]! ^= field === 16 || field === 20 ? 0x40 : 0x01;
        if (fixCrc && field >= 8) {
          // Region CRC over the region the (possibly edited) length names, then the opener's CRC.
          const end = target.off + 72 + bytes.readUInt32LE(target.off + 44);
          if (field !== 52 && end <= bytes.length) bytes.writeUInt32LE(crc32(bytes.subarray(target.off + 72, end)), target.off + 52);
          bytes.writeUInt32LE(crc32(bytes.subarray(target.off + 8, target.off + 72)), target.off + 4);
        }
        fs.writeFileSync(file, bytes);
        const before = sha(file);
        const r = await codeOf(Emdb.open(file, { readers: 1, encryption: { key } }));
        expect(r.code, `field ${field} fixCrc ${fixCrc}`).toBe('ERR_EMDB_CORRUPTION');
        expect(r.offset, `field ${field}`).toBe(target.off);
        expect(sha(file)).toBe(before);
      }
    }
    // Two records swapped (both CRCs intact): each is bound to its own LSN.
    const a = recs[3]!;
    const b = recs[4]!;
    if (a.size === b.size) {
      const bytes = Buffer.from(original);
      original.copy(bytes, a.off, b.off, b.off + b.size);
      original.copy(bytes, b.off, a.off, a.off + a.size);
      fs.writeFileSync(file, bytes);
      const r = await codeOf(Emdb.open(file, { readers: 1, encryption: { key } }));
      expect(r.code).toBe('ERR_EMDB_CORRUPTION');
      expect(r.offset).toBe(a.off);
    }
  }, 120_000);

  it('a bit flipped in each field of the prelude is detected (with its CRC fixed up too)', async () => {
    const dir = newDir();
    const file = await makeDb(dir);
    const original = fs.readFileSync(file);
    // magic, version, flags, data start, cipher, kdf, reserved, kdf salt, params, key-check nonce and block, created, file id, encoding, scheme, reserved, enc flags, subkey salt, reserved tail
    const fields = [0, 8, 12, 16, 20, 21, 22, 24, 40, 44, 48, 52, 64, 100, 112, 120, 136, 137, 138, 140, 144, 176, 250];
    for (const at of fields) {
      for (const fixCrc of [false, true]) {
        const bytes = Buffer.from(original);
        bytes[at]! ^= 0x01;
        if (fixCrc) bytes.writeUInt32LE(crc32(bytes.subarray(0, 252)), 252);
        fs.writeFileSync(file, bytes);
        const before = sha(file);
        const r = await codeOf(Emdb.open(file, { readers: 1, encryption: { key } }));
        expect(r.code, `prelude byte ${at} fixCrc ${fixCrc}`).toBeDefined();
        expect(sha(file)).toBe(before);
      }
    }
  }, 120_000);

  it('a forged header slot (tail hint changed, CRC fixed up) fails its MAC: the other slot is used; both forged is corruption', async () => {
    const dir = newDir();
    const file = await makeDb(dir);
    const original = fs.readFileSync(file);
    const forge = (bytes: Buffer, slot: number): void => {
      const at = slot * 4096;
      // Any change of the slot's bytes: here its tail hint moves by one record header.
      bytes.writeUInt32LE(bytes.readUInt32LE(at + 16) + 32, at + 16);
      bytes.writeUInt32LE(crc32(bytes.subarray(at, at + 60)), at + 60);
    };
    const one = Buffer.from(original);
    const seqA = one.readUInt32LE(4096 + 8);
    const seqB = one.readUInt32LE(8192 + 8);
    forge(one, seqA > seqB ? 1 : 2);
    fs.writeFileSync(file, one);
    let db = await Emdb.open(file, { readers: 1, encryption: { key } });
    expect(db.getSync('k19')?.toString()).toBe('v19');
    await db.close();
    const both = Buffer.from(original);
    forge(both, 1);
    forge(both, 2);
    fs.writeFileSync(file, both);
    const before = sha(file);
    expect((await codeOf(Emdb.open(file, { readers: 1, encryption: { key } }))).code).toBe('ERR_EMDB_CORRUPTION');
    expect(sha(file)).toBe(before);
    fs.writeFileSync(file, original);
    db = await Emdb.open(file, { readers: 1, encryption: { key } });
    expect(await db.len()).toBe(20);
    await db.close();
  }, 30_000);
  it('a sealed index snapshot edited (its CRCs fixed up) does not authenticate: ignored, full replay, same data', async () => {
    const dir = newDir();
    const file = path.join(dir, 'snap.emdb');
    let db = await Emdb.open(file, { readers: 1, encryption: { key } });
    for (let i = 0; i < 50; i++) await db.insert(`k${i}`, `v${i}`);
    await db.close();
    const snap = fs.readFileSync(`${file}.index`);
    db = await Emdb.open(file, { readers: 1, encryption: { key } });
    expect((await db.stats()).recovery.mode).toBe('snapshot');
    await db.close();
    fs.writeFileSync(`${file}.index`, snap);
    for (const at of [40, 60, 200, snap.length - 1]) {
      const bad = Buffer.from(snap);
      bad[at]! ^= 1;
      bad.writeUInt32LE(crc32(bad.subarray(128)), 100);
      bad.writeUInt32LE(crc32(bad.subarray(0, 124)), 124);
      fs.writeFileSync(`${file}.index`, bad);
      db = await Emdb.open(file, { readers: 1, encryption: { key } });
      expect((await db.stats()).recovery.mode, `snapshot byte ${at}`).toBe('full');
      expect(await db.len()).toBe(50);
      expect(db.getSync('k49')?.toString()).toBe('v49');
      await db.close();
      fs.writeFileSync(`${file}.index`, snap);
    }
  }, 30_000);
});
