/**
 * Copies of one encrypted file share its file id, so its records key, and its
 * history (docs/RELIABILITY.md, outside defect 50; FORMAT.md "Nonces"). A
 * backup restored twice, a `cp` of the database, a volume snapshot rolled back
 * while a later one exists: each copy opened and written at the same LSN must
 * seal under a nonce no other copy uses, or the XOR of the two ciphertexts is
 * the XOR of the two plaintexts (and AES-GCM's authentication key leaks).
 *
 * Public API on the real file system for both ciphers and a passphrase
 * database, the (key, nonce) pairs read from the files; then the engine on the
 * simulated file system, every seal recorded by the nonce observer, for both
 * record schemes, with the copies compacted and backed up afterwards.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { setNewFileScheme } from '../../dist/src/crypto/keys.js';
import { observeNonces } from '../../dist/src/crypto/record-crypt.js';
import { Emdb, tempDirs } from '../helpers/common.js';
import { contents, openEncrypted } from '../helpers/encryption-sim.js';
import { nonceReuses, seals } from '../helpers/sealed-image.js';
import { DB, encodeUnits } from '../helpers/sim/engine-harness.js';
import { SimFS } from '../helpers/sim/sim-fs.js';

type Enc = { key: Uint8Array; cipher?: 'aes-256-gcm' | 'chacha20-poly1305' } | { passphrase: string; cipher?: 'aes-256-gcm' | 'chacha20-poly1305' };

/** Two values of one length: written at the same LSN of two copies. One is what an attacker knows. */
const SECRET = 'tok_live_4242424242424242_SECRET';
const KNOWN = 'A'.repeat(SECRET.length);
const FIRST = 'tok_initial_value_000000000000';

/** LSNs where both files hold a seal, with different sealed bytes: the copies really were written at the same point. */
function sameLsnDifferentSeals(a: Uint8Array, b: Uint8Array): number[] {
  const inB = new Map(seals(b).map((s) => [s.lsn, s.sealed]));
  return seals(a)
    .filter((s) => inB.has(s.lsn) && inB.get(s.lsn) !== s.sealed)
    .map((s) => s.lsn);
}

describe('copies of an encrypted file (public API, real file system)', () => {
  const newDir = tempDirs('emdb-copy-nonces-');
  const cases: [string, Enc][] = [
    ['aes-256-gcm, raw key', { key: randomBytes(32) }],
    ['chacha20-poly1305, raw key', { key: randomBytes(32), cipher: 'chacha20-poly1305' }],
    ['passphrase (Argon2id), chacha20-poly1305', { passphrase: 'correct horse battery staple', cipher: 'chacha20-poly1305' }],
  ];
  for (const [name, encryption] of cases) {
    it(`${name}: a backup restored twice, a copied file and a rolled-back snapshot never seal two plaintexts under one (key, nonce)`, async () => {
      const dir = newDir();
      const at = (f: string): string => path.join(dir, f);
      const opts = { encryption, readers: 1 };
      // Two units per open: a nonce drawn once per open or per thread would repeat inside one file.
      const write = async (file: string, value: string): Promise<void> => {
        const db = await Emdb.open(file, opts);
        await db.insert('customer:0002', value);
        await db.flush();
        await db.insert('customer:0003', value.toLowerCase());
        await db.close();
      };
      const copy = (from: string, to: string): void => {
        fs.copyFileSync(at(from), at(to));
        if (fs.existsSync(at(`${from}.index`))) fs.copyFileSync(at(`${from}.index`), at(`${to}.index`));
      };
      const live = await Emdb.open(at('live.emdb'), opts);
      await live.insert('customer:0001', FIRST);
      await live.backupTo(at('backup.emdb'));
      await live.close();

      // The same backup restored twice (a recovery drill, then the real restore), each written to.
      copy('backup.emdb', 'restore-a.emdb');
      copy('backup.emdb', 'restore-b.emdb');
      // `cp` of the database (file and index snapshot), both copies written to.
      copy('live.emdb', 'copy-a.emdb');
      copy('live.emdb', 'copy-b.emdb');
      // A volume snapshot at T0, a write, a snapshot at T1, then T0 rolled back and written to again.
      copy('live.emdb', 't0.emdb');
      const pairs: [string, string][] = [
        ['restore-a.emdb', 'restore-b.emdb'],
        ['copy-a.emdb', 'copy-b.emdb'],
        ['t1.emdb', 'live.emdb'],
      ];
      for (const [a, b] of pairs) {
        if (a === 't1.emdb') {
          await write(at('live.emdb'), SECRET);
          copy('live.emdb', 't1.emdb');
          copy('t0.emdb', 'live.emdb');
          await write(at('live.emdb'), KNOWN);
        } else {
          await write(at(a), SECRET);
          await write(at(b), KNOWN);
        }
      }

      const files = pairs.flat();
      const bytes = new Map(files.map((f) => [f, new Uint8Array(fs.readFileSync(at(f)))]));
      for (const [a, b] of pairs) expect(sameLsnDifferentSeals(bytes.get(a)!, bytes.get(b)!).length, `${a} / ${b} written at one LSN`).toBeGreaterThan(0);
      // Every file of one key together (restores share the backup's; copies, T1 and the rolled-back file the live one's).
      expect(nonceReuses([...bytes.values()])).toEqual([]);
      for (const s of [...bytes.values()].flatMap(seals)) expect(s.valueLen).toBe(40);

      // Each copy reopens and reads back its own write, by full replay and from its index snapshot.
      for (const [a, b] of pairs) {
        for (const [file, value] of [
          [a, SECRET],
          [b, KNOWN],
        ] as const) {
          for (const replay of [true, false]) {
            if (replay) fs.rmSync(at(`${file}.index`), { force: true });
            const db = await Emdb.open(at(file), opts);
            expect((await db.get('customer:0001'))?.toString()).toBe(FIRST);
            expect((await db.get('customer:0002'))?.toString()).toBe(value);
            expect((await db.get('customer:0003'))?.toString()).toBe(value.toLowerCase());
            await db.close();
          }
        }
      }
    });
  }
});

describe('copies of an encrypted file (engine, every seal observed)', () => {
  afterEach(() => {
    setNewFileScheme(2);
    observeNonces(undefined);
  });

  const put = (e: ReturnType<typeof openEncrypted>, k: string, v: string): void => {
    const { batch, records } = encodeUnits([{ t: 'put', k, v }]);
    e.append(batch, false, records);
  };
  const image = (files: Map<string, Uint8Array>): SimFS => {
    const sim = new SimFS();
    sim.mkdirp('/data/app');
    for (const [name, bytes] of files) sim.writeFile(name, bytes);
    return sim;
  };

  for (const scheme of [2, 1] as const) {
    for (const cipher of ['aes-256-gcm', 'chacha20-poly1305'] as const) {
      it(`record scheme ${scheme}, ${cipher}: two copies written at the same LSN, then compacted and backed up, seal under distinct (key, nonce) pairs`, () => {
        const encryption = { key: new Uint8Array(32).fill(0x42), cipher };
        const sealed: string[] = [];
        observeNonces((key, nonce) => sealed.push(`${Buffer.from(key).toString('hex')}:${Buffer.from(nonce).toString('hex')}`));
        setNewFileScheme(scheme);
        const origin = new SimFS();
        const o = openEncrypted(origin, encryption);
        put(o, 'customer:0001', FIRST);
        o.flush();
        o.close();
        setNewFileScheme(2);
        const files = new Map([[DB, origin.readFile(DB)!]]);
        const index = origin.readFile(`${DB}.index`);
        if (index) files.set(`${DB}.index`, index);

        const copies = [image(files), image(files)];
        const values = [SECRET, KNOWN];
        copies.forEach((sim, i) => {
          const e = openEncrypted(sim, encryption);
          put(e, 'customer:0002', values[i]!);
          e.flush();
          e.close();
        });
        const [a, b] = copies.map((sim) => sim.readFile(DB)!);
        expect(sameLsnDifferentSeals(a!, b!).length).toBeGreaterThan(0);
        expect(nonceReuses([a!, b!])).toEqual([]);

        // Each copy then compacted (a new file id, every record sealed again) and backed up.
        copies.forEach((sim, i) => {
          const e = openEncrypted(sim, encryption);
          expect(contents(e).get('customer:0002')).toBe(values[i]);
          put(e, 'customer:0003', values[1 - i]!);
          e.compact();
          const job = e.startBackup('/data/app/backup.emdb');
          while (!job.step());
          job.finish();
          e.close();
          for (const file of [DB, '/data/app/backup.emdb']) {
            const again = openEncrypted(image(new Map([[DB, sim.readFile(file)!]])), encryption);
            const got = contents(again);
            again.close();
            expect(got.get('customer:0001')).toBe(FIRST);
            expect(got.get('customer:0002')).toBe(values[i]);
            expect(got.get('customer:0003')).toBe(values[1 - i]);
          }
        });
        observeNonces(undefined);
        expect(sealed.length).toBeGreaterThan(6);
        expect(new Set(sealed).size).toBe(sealed.length);
      });
    }
  }
});
