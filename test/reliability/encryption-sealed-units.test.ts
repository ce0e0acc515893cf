/**
 * Record scheme 2, sealed units (docs/FORMAT.md "Sealed units"): a flipped
 * bit inside a unit, a forged CRC, two swapped units are all caught as
 * ERR_EMDB_CORRUPTION at the unit's offset with the file unchanged; a torn
 * final unit is crash residue cut at its opener; a transaction spanning units
 * round-trips and is dropped whole when its last unit is torn; nonces never
 * repeat through reopen, compaction and rotation; a scheme 1 file still opens
 * and a rotation converts it.
 */
import { createHash } from 'node:crypto';
import { crc32 } from '@node-rs/crc32';
import { afterEach, describe, expect, it } from 'vitest';
import { setNewFileScheme } from '../../dist/src/crypto/keys.js';
import { observeNonces } from '../../dist/src/crypto/record-crypt.js';
import { DATA_START, PRELUDE, RECORD, SEAL, SEAL_KIND, SEAL_RECORD_SIZE } from '../../dist/src/format/constants.js';
import { unitSize } from '../../dist/src/format/seal-opener.js';
import { DB, encodeUnits, type Unit } from '../helpers/sim/engine-harness.js';
import { SimFS } from '../helpers/sim/sim-fs.js';
import { CRASH_MODES } from '../helpers/sim/crash-image.js';
import { contents, openEncrypted } from '../helpers/encryption-sim.js';
import type { WriterEngine } from '../../dist/src/writer/engine.js';

const K = { key: new Uint8Array(32).fill(9) };
const K2 = { key: new Uint8Array(32).fill(10), cipher: 'chacha20-poly1305' as const };

afterEach(() => {
  setNewFileScheme(2);
  observeNonces(undefined);
});

function put(engine: WriterEngine, units: Unit[]): void {
  const { batch, records } = encodeUnits(units);
  engine.append(batch, false, records);
}

const puts = (prefix: string, n: number, valueLen = 40): { t: 'put'; k: string; v: string }[] =>
  Array.from({ length: n }, (_, i) => ({ t: 'put' as const, k: `${prefix}${String(i).padStart(5, '0')}`, v: `v${prefix}${i}`.padEnd(valueLen, '.') }));

/** Top-level records of a scheme 2 log: unit openers (with their size) and durable marks. */
function units(file: Uint8Array, end = file.length): { lsn: number; size: number }[] {
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const out: { lsn: number; size: number }[] = [];
  for (let at = DATA_START; at + 32 <= end; ) {
    const kind = dv.getUint8(at + RECORD.KIND);
    // Scheme 1 records (flag bit 0) carry nonce, sealed expiry and tag: 36 bytes more.
    const sealed = (dv.getUint8(at + RECORD.FLAGS) & 1) !== 0 ? 36 : 0;
    const size = kind === SEAL_KIND ? unitSize(dv, at) : 32 + sealed + dv.getUint32(at + 16, true) + dv.getUint32(at + 20, true);
    if (kind === SEAL_KIND) out.push({ lsn: at, size });
    at += size;
  }
  return out;
}

/** A closed database of `batches` appended batches (each one unit of `perBatch` records). */
function build(batches: number, perBatch: number): { sim: SimFS; model: Map<string, string> } {
  const sim = new SimFS();
  const e = openEncrypted(sim, K);
  for (let b = 0; b < batches; b++) put(e, puts(`b${b}-`, perBatch));
  e.flush();
  const model = contents(e);
  e.close();
  return { sim, model };
}

const sha = (b: Uint8Array | undefined): string => createHash('sha256').update(b!).digest('hex');

function expectCorruptionAt(sim: SimFS, offset: number): void {
  const before = sha(sim.readFile(DB));
  let err: unknown;
  try {
    openEncrypted(sim, K).close();
  } catch (e) {
    err = e;
  }
  expect((err as { code?: string }).code).toBe('ERR_EMDB_CORRUPTION');
  expect((err as { offset?: number }).offset).toBe(offset);
  expect(sha(sim.readFile(DB))).toBe(before);
}

/** A simulated file system holding `bytes` as the database file (a copy of an image to reopen or damage). */
function imageFs(bytes: Uint8Array): SimFS {
  const fs = new SimFS();
  fs.mkdirp('/data/app');
  fs.writeFile(DB, bytes);
  return fs;
}

describe('sealed units (record scheme 2)', () => {
  it('new encrypted files are scheme 2: prelude byte 137 = 2, records inside units, nothing of them in the clear', () => {
    const { sim, model } = build(3, 50);
    const file = sim.readFile(DB)!;
    expect(file[PRELUDE.RECORD_SCHEME]).toBe(2);
    const found = units(file);
    expect(found.length).toBeGreaterThanOrEqual(3);
    expect(Buffer.from(file).includes(Buffer.from('b1-00007'))).toBe(false);
    const again = openEncrypted(sim, K);
    expect(contents(again)).toEqual(model);
    again.close();
  });

  for (const snapshot of [true, false]) {
    const how = snapshot ? 'with the index snapshot (one-pass reopen)' : 'by full replay';
    it(`a flipped bit in a unit's region, its tag, its nonce or its opener fields is ERR_EMDB_CORRUPTION at the unit, file unchanged (${how})`, () => {
      const { sim } = build(4, 30);
      const u = units(sim.readFile(DB)!)[2]!;
      const targets = [u.lsn + SEAL_RECORD_SIZE + 100, u.lsn + SEAL.TAG + 3, u.lsn + SEAL.NONCE + 5, u.lsn + SEAL.RECORD_COUNT];
      for (const at of targets) {
        for (const forgeCrc of [false, true]) {
          const bytes = sim.readFile(DB)!.slice();
          bytes[at]! ^= 0x10;
          const dv = new DataView(bytes.buffer);
          if (forgeCrc) {
            // An attacker recomputes the region CRC and the opener CRC: only the tag can catch it.
            dv.setUint32(u.lsn + SEAL.REGION_CRC, crc32(bytes.subarray(u.lsn + SEAL_RECORD_SIZE, u.lsn + u.size)), true);
            dv.setUint32(u.lsn + 4, crc32(bytes.subarray(u.lsn + 8, u.lsn + SEAL_RECORD_SIZE)), true);
          }
          const copy = imageFs(bytes);
          if (snapshot) copy.writeFile(`${DB}.index`, sim.readFile(`${DB}.index`)!);
          expectCorruptionAt(copy, u.lsn);
        }
      }
    });
  }

  it('two sealed units swapped (same size, intact CRCs) fail authentication at the first one', () => {
    const { sim } = build(5, 20);
    const found = units(sim.readFile(DB)!);
    const [a, b] = [found[1]!, found[3]!];
    expect(a.size).toBe(b.size);
    const bytes = sim.readFile(DB)!.slice();
    const ua = bytes.slice(a.lsn, a.lsn + a.size);
    bytes.set(bytes.subarray(b.lsn, b.lsn + b.size), a.lsn);
    bytes.set(ua, b.lsn);
    const copy = imageFs(bytes);
    expectCorruptionAt(copy, a.lsn);
  });

  it('a torn final unit after the tail hint is crash residue: cut at its opener, earlier units kept', () => {
    const sim = new SimFS();
    const e = openEncrypted(sim, K);
    put(e, puts('a', 40));
    e.checkpoint();
    const kept = contents(e);
    put(e, puts('z', 40));
    e.flush();
    const file = sim.readFile(DB)!;
    const last = units(file).at(-1)!;
    for (const cut of [last.lsn + 10, last.lsn + SEAL_RECORD_SIZE + 7, last.lsn + last.size - 1]) {
      const copy = imageFs(file.slice(0, cut));
      const r = openEncrypted(copy, K);
      expect(r.recovery!.residueAt).toBe(last.lsn);
      expect(r.recovery!.droppedRecords).toBe(0);
      expect(contents(r)).toEqual(kept);
      r.close();
    }
    // Garbage instead of missing bytes: a region whose CRC fails is residue as well.
    const garbage = file.slice();
    garbage[last.lsn + SEAL_RECORD_SIZE + 5]! ^= 0xff;
    const copy = imageFs(garbage);
    const r = openEncrypted(copy, K);
    expect(r.recovery!.residueAt).toBe(last.lsn);
    expect(contents(r)).toEqual(kept);
    r.close();
  });

  it('a transaction larger than a unit spans units, round-trips, and is dropped whole when a later unit of it is torn', () => {
    const sim = new SimFS();
    const e = openEncrypted(sim, K);
    put(e, puts('pre', 5));
    e.checkpoint();
    const before = contents(e);
    put(e, [{ t: 'tx', ops: puts('tx', 2500, 60) }]);
    e.flush();
    const after = contents(e);
    expect(after.size).toBe(before.size + 2500);
    const file = sim.readFile(DB)!;
    const txUnits = units(file).slice(1);
    expect(txUnits.length).toBeGreaterThan(2);
    for (const u of txUnits) expect(u.size).toBeLessThanOrEqual(SEAL_RECORD_SIZE + 64 * 1024);
    const whole = new SimFS();
    whole.mkdirp('/data/app');
    whole.writeFile(DB, file);
    const w = openEncrypted(whole, K);
    expect(contents(w)).toEqual(after);
    w.close();
    const torn = new SimFS();
    torn.mkdirp('/data/app');
    torn.writeFile(DB, file.slice(0, txUnits.at(-1)!.lsn + 100));
    const t = openEncrypted(torn, K);
    expect(t.recovery!.residueAt).toBe(txUnits[0]!.lsn);
    expect(contents(t)).toEqual(before);
    t.close();
    e.close();
  });

  it('no (subkey, nonce) pair repeats through crashes that cut tails, reopen, compaction and rotation', () => {
    const pairs = new Set<string>();
    const lsns = new Set<string>();
    let seals = 0;
    let lsnReused = 0;
    observeNonces((key, nonce, at) => {
      seals++;
      pairs.add(`${Buffer.from(key).toString('hex')}:${Buffer.from(nonce).toString('hex')}`);
      // The same unit LSN under the same subkey again: the random nonce must still be fresh.
      const lsn = `${Buffer.from(key).toString('hex')}:${at}`;
      if (lsns.has(lsn)) lsnReused++;
      lsns.add(lsn);
    });
    let sim = new SimFS();
    let spec: typeof K | typeof K2 = K;
    for (let round = 0; round < 12; round++) {
      const e = openEncrypted(sim, spec);
      put(e, puts(`r${round}-`, 30));
      e.flush();
      // Unsynced: the crash below drops or tears this unit, and the next round seals at its LSN again.
      put(e, puts(`s${round}-`, 30));
      if (round === 3) e.compact();
      if (round === 7) {
        e.flush();
        e.close();
        const r = openEncrypted(sim, spec);
        r.reencrypt(K2, false);
        r.close();
        spec = K2;
        continue;
      }
      sim = sim.crash(CRASH_MODES[round % CRASH_MODES.length]!, round);
    }
    expect(seals).toBeGreaterThan(20);
    expect(lsnReused).toBeGreaterThan(0);
    expect(pairs.size).toBe(seals);
  });

  it('a scheme 1 file still opens, takes writes, keeps scheme 1 through compaction, and a rotation converts it to scheme 2', () => {
    setNewFileScheme(1);
    const sim = new SimFS();
    const e = openEncrypted(sim, K);
    put(e, puts('old', 40));
    e.close();
    setNewFileScheme(2);
    expect(sim.readFile(DB)![PRELUDE.RECORD_SCHEME]).toBe(1);
    const r = openEncrypted(sim, K);
    put(r, puts('new', 40));
    r.compact();
    const model = contents(r);
    r.close();
    expect(sim.readFile(DB)![PRELUDE.RECORD_SCHEME]).toBe(1);
    expect(units(sim.readFile(DB)!)).toEqual([]);
    const c = openEncrypted(sim, K);
    expect(contents(c)).toEqual(model);
    c.reencrypt(K, false);
    c.close();
    const file = sim.readFile(DB)!;
    expect(file[PRELUDE.RECORD_SCHEME]).toBe(2);
    expect(units(file).length).toBeGreaterThan(0);
    const d = openEncrypted(sim, K);
    expect(contents(d)).toEqual(model);
    d.close();
  });
});
