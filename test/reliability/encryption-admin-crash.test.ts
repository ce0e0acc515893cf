/**
 * Emdb.enableEncryption / rotateEncryptionKey / disableEncryption under power
 * loss (issue 15), on the simulated file system: a cut before every mutating
 * call of the rewrite, under every crash mode, leaves a file that opens with
 * either the old protection or the new one and holds exactly the data; no
 * `.rekey` temp file survives that open. Then the admin functions through the
 * public API: a wrong `from` is refused with the file unchanged, rotation
 * twice, and enable → disable gives back the same content.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EncryptionSpec } from '../../dist/src/crypto/keys.js';
import { Emdb, EmdbError, tempDirs } from '../helpers/common.js';
import { CRASH_MODES } from '../helpers/sim/crash-image.js';
import { DB, encodeUnits, type Unit } from '../helpers/sim/engine-harness.js';
import { SimFS } from '../helpers/sim/sim-fs.js';
import { contents, openEncrypted } from '../helpers/encryption-sim.js';

const K1: EncryptionSpec = { key: new Uint8Array(32).fill(1) };
const K2: EncryptionSpec = { key: new Uint8Array(32).fill(2), cipher: 'chacha20-poly1305' };

const units: Unit[] = [];
for (let i = 0; i < 30; i++) units.push({ t: 'put', k: `key${i}`, v: `value-${i}-`.padEnd(20 + i * 7, 'x') });
units.push({ t: 'tx', ops: [{ t: 'del', k: 'key3' }, { t: 'put', k: 'txkey', v: 'in-tx' }] });
const want = new Map<string, string>();
for (const u of units) {
  if (u.t === 'put') want.set(u.k, u.v);
  if (u.t === 'tx') {
    for (const op of u.ops) {
      if (op.t === 'put') want.set(op.k, op.v);
      else want.delete(op.k);
    }
  }
}

/** Creates the database under `from`, then rewrites it to `to`; returns the mutation range of the rewrite. */
function run(sim: SimFS, from: EncryptionSpec | undefined, to: EncryptionSpec | undefined): { first: number; last: number } {
  const e = openEncrypted(sim, from);
  const { batch, records } = encodeUnits(units);
  e.append(batch, false, records);
  e.checkpoint();
  e.close();
  const first = sim.mutations + 1;
  const r = openEncrypted(sim, from);
  r.reencrypt(to, false);
  r.close();
  return { first, last: sim.mutations };
}

const phases: [string, EncryptionSpec | undefined, EncryptionSpec | undefined][] = [
  ['enable', undefined, K1],
  ['rotate (new key and cipher)', K1, K2],
  ['disable', K2, undefined],
];

describe('encryption admin rewrite under power loss (simulated file system)', () => {
  for (const [name, from, to] of phases) {
    it(`${name}: a cut at every mutating call leaves the old or the new file, whole`, () => {
      const { first, last } = run(new SimFS(), from, to);
      expect(last).toBeGreaterThan(first);
      let oldSeen = 0;
      let newSeen = 0;
      for (let cut = first; cut <= last + 1; cut++) {
        for (const [m, mode] of CRASH_MODES.entries()) {
          const sim = new SimFS({ cutAt: cut });
          try {
            run(sim, from, to);
          } catch (err) {
            if (!sim.dead) throw err;
          }
          const image = sim.crash(mode, cut * 10 + m);
          let engine;
          try {
            engine = openEncrypted(image, from);
            oldSeen++;
          } catch (err) {
            expect(err, `cut ${cut} ${mode}`).toBeInstanceOf(EmdbError);
            expect(['ERR_EMDB_INVALID_CONFIG', 'ERR_EMDB_ENCRYPTION_KEY_MISMATCH'], `cut ${cut} ${mode}: ${String(err)}`).toContain((err as EmdbError).code);
            engine = openEncrypted(image, to);
            newSeen++;
          }
          expect(contents(engine), `cut ${cut} ${mode}`).toEqual(want);
          engine.close();
          expect(image.exists(`${DB}.rekey`), `cut ${cut} ${mode}`).toBe(false);
        }
      }
      expect(oldSeen).toBeGreaterThan(0);
      expect(newSeen).toBeGreaterThan(0);
    }, 120_000);
  }
});

const sha = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

describe('encryption admin through the public API', () => {
  const newDir = tempDirs();

  it('wrong from refused with the file unchanged; rotation twice; enable → disable equals the original; keepBackup', async () => {
    const dir = newDir();
    const file = path.join(dir, 'a.emdb');
    const db = await Emdb.open<unknown>(file, { readers: 1, valueEncoding: 'json' });
    const original = new Map<string, unknown>();
    for (let i = 0; i < 100; i++) {
      await db.insert(`k${i}`, { i, text: `value ${i}` });
      original.set(`k${i}`, { i, text: `value ${i}` });
    }
    await (await db.namespace('second', { valueEncoding: 'utf8' })).insert('n', 'ns-text');
    await db.close();
    const readAll = async (encryption?: object): Promise<Map<string, unknown>> => {
      const d = await Emdb.open(file, { readers: 1, valueEncoding: 'json', ...(encryption ? { encryption } : {}) });
      const m = new Map<string, unknown>();
      for await (const [k, v] of d.iter()) m.set(k.toString(), v);
      expect(await (await d.namespace('second', { valueEncoding: 'utf8' })).get('n')).toBe('ns-text');
      await d.close();
      return m;
    };

    const k1 = { key: randomBytes(32) };
    const k2 = { key: randomBytes(32), cipher: 'chacha20-poly1305' as const };
    const k3 = { key: randomBytes(32) };
    await Emdb.enableEncryption(file, k1);
    expect(fs.readdirSync(dir).sort()).toEqual(['a.emdb']);
    const before = sha(file);
    await expect(Emdb.rotateEncryptionKey(file, { key: randomBytes(32) }, k2)).rejects.toMatchObject({ code: 'ERR_EMDB_ENCRYPTION_KEY_MISMATCH' });
    await expect(Emdb.disableEncryption(file, { key: randomBytes(32) })).rejects.toMatchObject({ code: 'ERR_EMDB_ENCRYPTION_KEY_MISMATCH' });
    await expect(Emdb.enableEncryption(file, k2)).rejects.toMatchObject({ code: 'ERR_EMDB_INVALID_CONFIG' });
    expect(sha(file)).toBe(before);
    await Emdb.rotateEncryptionKey(file, k1, k2);
    expect(fs.readFileSync(file)[20]).toBe(2); // prelude byte 20: cipher id 2, ChaCha20-Poly1305 as asked
    await Emdb.rotateEncryptionKey(file, k2, k3, { keepBackup: true });
    expect(fs.readFileSync(file)[20]).toBe(2); // k3 names no cipher: the file's is kept
    expect(fs.existsSync(`${file}.encbak`)).toBe(true);
    await expect(readAll(k2)).rejects.toMatchObject({ code: 'ERR_EMDB_ENCRYPTION_KEY_MISMATCH' });
    expect(await readAll(k3)).toEqual(original);
    await Emdb.disableEncryption(file, k3);
    expect(await readAll()).toEqual(original);

    const open = await Emdb.open(file, { readers: 1, valueEncoding: 'json' });
    await expect(Emdb.enableEncryption(file, k1)).rejects.toMatchObject({ code: 'ERR_EMDB_LOCKED' });
    await open.close();
    await expect(Emdb.enableEncryption(path.join(dir, 'missing.emdb'), k1)).rejects.toMatchObject({ code: 'ERR_EMDB_INVALID_CONFIG' });
    expect(fs.existsSync(path.join(dir, 'missing.emdb'))).toBe(false);
  }, 60_000);
});
