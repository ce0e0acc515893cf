/**
 * Files written before nonces were random stay readable, and everything
 * written to them afterwards takes the new layout (docs/FORMAT.md, "Sealed
 * units", "Nonces"). The fixtures were made by the last build that derived
 * nonces from key generation ‖ LSN (test/helpers/derived-nonce-fixtures.gen.ts):
 * a scheme 2 file of 32-byte-value SEAL openers from two opens, with a
 * transaction spanning two units, and a scheme 1 file. Each opens and reads
 * back its contents; appends to it seal under stored random nonces (40-byte
 * openers, or scheme 1 nonces that are not generation ‖ LSN) after the old
 * units, which stay as they were; the mixed file reopens by full replay and
 * from its index snapshot, passes `verify`, backs up (old units keep their
 * layout and LSN, under the backup's key), compacts and rotates into the new
 * layout only, and no (key, nonce) pair is ever sealed twice.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { observeNonces } from '../../dist/src/crypto/record-crypt.js';
import { walkLog } from '../../dist/src/cli/verify-walk.js';
import { tempDirs } from '../helpers/common.js';
import { contents, openEncrypted } from '../helpers/encryption-sim.js';
import { nonceReuses, seals, type Seal } from '../helpers/sealed-image.js';
import { applyUnit, DB, encodeUnits, type Unit } from '../helpers/sim/engine-harness.js';
import { SimFS } from '../helpers/sim/sim-fs.js';
import type { WriterEngine } from '../../dist/src/writer/engine.js';

const FIXTURES = path.join(import.meta.dirname, '../fixtures/derived-nonce');
const BACKUP = '/data/app/backup.emdb';

interface Expected {
  scheme: 1 | 2;
  cipher: 'aes-256-gcm' | 'chacha20-poly1305';
  key: string;
  liveKeys: number;
  contentsSha256: string;
}

function image(bytes: Uint8Array, index?: Uint8Array): SimFS {
  const sim = new SimFS();
  sim.mkdirp('/data/app');
  sim.writeFile(DB, bytes);
  if (index) sim.writeFile(`${DB}.index`, index);
  return sim;
}

const digest = (model: Map<string, string>): string => createHash('sha256').update(JSON.stringify([...model].sort())).digest('hex');

/** Whether a seal's nonce is the derived one: generation u32 ‖ its own LSN u64. */
const derived = (s: Seal): boolean => Buffer.from(s.nonce, 'hex').readBigUInt64LE(4) === BigInt(s.lsn);

function append(e: WriterEngine, model: Map<string, string>, units: Unit[]): void {
  const { batch, records } = encodeUnits(units);
  e.append(batch, false, records);
  for (const u of units) applyUnit(model, u);
}

const puts = (prefix: string, n: number, valueLen: number): { t: 'put'; k: string; v: string }[] =>
  Array.from({ length: n }, (_, i) => ({ t: 'put' as const, k: `${prefix}${String(i).padStart(4, '0')}`, v: `${prefix}-new-${i}-`.padEnd(valueLen, 'y') }));

describe('files sealed under derived nonces (before the stored random nonce)', () => {
  const newDir = tempDirs('emdb-derived-nonce-');
  afterEach(() => observeNonces(undefined));

  for (const name of ['units-aes', 'records-chacha']) {
    it(`${name}: opens and reads, appends use random nonces, reopens, verifies, backs up, compacts and rotates`, () => {
      const want = JSON.parse(fs.readFileSync(path.join(FIXTURES, `${name}.json`), 'utf8')) as Expected;
      const old = new Uint8Array(fs.readFileSync(path.join(FIXTURES, `${name}.emdb`)));
      const encryption = { key: Buffer.from(want.key, 'hex'), cipher: want.cipher };
      const observed: string[] = [];
      observeNonces((key, nonce) => observed.push(`${Buffer.from(key).toString('hex')}:${Buffer.from(nonce).toString('hex')}`));

      // The fixture is what it claims: old-layout seals only, nonces derived from two key generations.
      const before = seals(old);
      expect(before.length).toBeGreaterThan(2);
      expect(before.every(derived)).toBe(true);
      expect(new Set(before.map((s) => s.nonce.slice(0, 8))).size).toBe(2);
      if (want.scheme === 2) expect(before.every((s) => s.form === 'unit' && s.valueLen === 32)).toBe(true);
      else expect(before.every((s) => s.form === 'record')).toBe(true);

      const sim = image(old);
      const e = openEncrypted(sim, encryption);
      const model = contents(e);
      expect(model.size).toBe(want.liveKeys);
      expect(digest(model)).toBe(want.contentsSha256);
      append(e, model, puts('n', 20, 50));
      e.flush();
      // A transaction larger than a unit: its body holds a new-layout opener.
      append(e, model, [{ t: 'tx', ops: puts('m', 230, 280) }]);
      append(e, model, [{ t: 'del', k: 'n0004' }]);
      e.close();

      const mixed = sim.readFile(DB)!;
      const after = seals(mixed);
      const oldEnd = Math.max(...before.map((s) => s.lsn));
      // The old seals are untouched; every new one has a stored random nonce.
      expect(after.filter((s) => s.lsn <= oldEnd)).toEqual(before);
      const added = after.filter((s) => s.lsn > oldEnd);
      expect(added.length).toBeGreaterThan(want.scheme === 2 ? 3 : 200);
      for (const s of added) {
        expect(derived(s)).toBe(false);
        if (want.scheme === 2) expect(s.valueLen).toBe(40);
      }

      // Reopened by full replay and from the index snapshot (the one-pass prefix reads the old units too).
      for (const index of [undefined, sim.readFile(`${DB}.index`)!]) {
        const r = openEncrypted(image(mixed, index), encryption);
        expect(contents(r)).toEqual(model);
        r.close();
      }
      const real = path.join(newDir(), 'mixed.emdb');
      fs.writeFileSync(real, mixed);
      const report = walkLog(real, () => undefined, encryption);
      expect(report.damage).toBeUndefined();
      expect(report.residue).toBeUndefined();

      // A backup keeps every LSN: old units keep their layout (sealed again under the backup's own key, each LSN
      // once), new ones are new; scheme 1 records keep their size whatever their nonce, so all take random ones.
      const source = image(mixed);
      const b = openEncrypted(source, encryption);
      const job = b.startBackup(BACKUP);
      while (!job.step());
      job.finish();
      b.close();
      const copy = image(source.readFile(BACKUP)!);
      const backup = copy.readFile(DB)!;
      const layout = (s: Seal): [number, number, boolean] => [s.lsn, s.valueLen, want.scheme === 2 && derived(s)];
      expect(seals(backup).map((s) => [s.lsn, s.valueLen, derived(s)])).toEqual(after.map(layout));
      const rb = openEncrypted(copy, encryption);
      expect(contents(rb)).toEqual(model);
      // Compaction and rotation write every unit or record again: new layout only.
      rb.compact();
      expect(contents(rb)).toEqual(model);
      rb.close();
      const compacted = copy.readFile(DB)!;
      const rc = openEncrypted(copy, encryption);
      rc.reencrypt(encryption, false);
      rc.close();
      const rotated = copy.readFile(DB)!;
      for (const file of [compacted, rotated]) {
        const all = seals(file);
        expect(all.length).toBeGreaterThan(0);
        expect(all.some(derived)).toBe(false);
        if (want.scheme === 2 || file === rotated) expect(all.every((s) => s.form === 'unit' && s.valueLen === 40)).toBe(true);
      }
      const rr = openEncrypted(copy, encryption);
      expect(contents(rr)).toEqual(model);
      rr.close();

      expect(nonceReuses([old, mixed, backup, compacted, rotated])).toEqual([]);
      expect(observed.length).toBeGreaterThan(3);
      expect(new Set(observed).size).toBe(observed.length);
    });
  }
});
