/**
 * Damage inside the checkpointed part of a cleanly closed database is real
 * corruption, never crash residue: open must refuse with ERR_EMDB_CORRUPTION
 * whose `.offset` is the start of the damaged record, and must leave the file
 * byte-identical (sha256 before/after). Damage in the prelude is corruption too
 * (or NOT_A_DATABASE / UNSUPPORTED_VERSION when it hits the magic / version);
 * a torn active header slot falls back to the older slot and loses nothing.
 * Foreign, truncated and header-damaged files are in open-bad-input.test.ts.
 *
 * One Emdb.open costs a worker-thread start-up (~100-200 ms of CPU), so the
 * exhaustive sweeps (every header bit, many payload bits) run the writer's own
 * open/recovery code (WriterEngine from dist, through the FileIO seam, on this
 * thread); one bit per header field, payload and file region then goes through
 * the public Emdb.open, which also covers what the writer thread does around a
 * failed open.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Emdb, ErrorCode, rmrf, tmpDir } from '../helpers/common.js';
import { DATA_START, HEADER, Kind, SLOT_A, SLOT_B, pool, rng, walkRecords, withInProcessEngine, type Rec } from '../helpers/log-image.js';

function slot(buf: Buffer, off: number): { seq: bigint; tail: number } {
  return { seq: buf.readBigUInt64LE(off + 8), tail: Number(buf.readBigUInt64LE(off + 16)) };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface Outcome {
  code: string | undefined;
  offset: number | undefined;
  message: string;
}

/** Opens `file`; an unexpected success is closed again and reported as code 'opened'. */
async function openOutcome(file: string): Promise<Outcome> {
  try {
    const db = await Emdb.open(file, { readers: 1 });
    await db.close();
    return { code: 'opened', offset: undefined, message: '' };
  } catch (err) {
    const e = err as { code?: string; offset?: number; message?: string };
    return { code: e.code, offset: e.offset, message: e.message ?? String(err) };
  }
}

/** The writer's open (header, slot choice, recovery walk) on this thread; closes what it opened. */
function openInProcess(file: string): Outcome {
  try {
    return withInProcessEngine(file, (engine) => {
      engine.close();
      return { code: 'opened', offset: undefined, message: '' };
    });
  } catch (err) {
    const e = err as { code?: string; offset?: number; message?: string };
    return { code: e.code, offset: e.offset, message: e.message ?? String(err) };
  }
}

function flipBit(image: Buffer, bit: number): Buffer {
  const copy = Buffer.from(image);
  copy[bit >> 3]! ^= 1 << (bit & 7);
  return copy;
}

describe('single-bit damage before the tail hint', () => {
  let dir: string;
  let image: Buffer;
  let records: Rec[];
  let model: Map<string, string>;
  let seq = 0;

  beforeAll(async () => {
    dir = tmpDir('emdb-bitflip-');
    const file = path.join(dir, 'source.emdb');
    model = new Map();
    const db = await Emdb.open(file, { readers: 1 });
    const put = async (k: string, v: string) => {
      await db.insert(k, v);
      model.set(k, v);
    };
    for (let i = 0; i < 12; i++) await put(`key-${i}-${'k'.repeat(i * 9)}`, `value-${i}-${'v'.repeat((i * 397) % 3000)}`);
    const chunk: [string, string][] = [['tx-a', 'alpha'], ['tx-b', 'b'.repeat(700)], ['key-3-' + 'k'.repeat(27), 'replaced in tx']];
    await db.insertMany(chunk);
    for (const [k, v] of chunk) model.set(k, v);
    await db.checkpoint();
    await put('target-record-key', 'target record value: '.padEnd(120, '#'));
    await db.remove('key-5-' + 'k'.repeat(45));
    model.delete('key-5-' + 'k'.repeat(45));
    for (let i = 12; i < 20; i++) await put(`key-${i}`, 'w'.repeat(i * 50));
    await db.close();
    image = fs.readFileSync(file);
    const walked = walkRecords(image);
    expect(walked.end).toBe(image.length);
    records = walked.records;
    // Closed normally: the newest slot's tail hint covers the whole file; the older one stops at the checkpoint.
    const a = slot(image, SLOT_A);
    const b = slot(image, SLOT_B);
    const [active, older] = a.seq > b.seq ? [a, b] : [b, a];
    expect(active.tail).toBe(image.length);
    expect(older.tail).toBeGreaterThan(DATA_START);
    expect(older.tail).toBeLessThan(image.length);
  });

  afterAll(() => rmrf(dir));

  /** 'public': Emdb.open (writer thread, lock, reader pool); 'inProcess': the writer's open code on this thread. */
  type Opener = 'public' | 'inProcess';

  /** Writes a damaged copy, opens it, and describes every way the outcome differs from `want`. */
  async function check(bytes: Buffer, want: { code: string; offset?: number }, label: string, opener: Opener): Promise<string | undefined> {
    const file = path.join(dir, `case-${seq++}.emdb`);
    fs.writeFileSync(file, bytes);
    const before = sha(bytes);
    const got = opener === 'public' ? await openOutcome(file) : openInProcess(file);
    const problems: string[] = [];
    if (got.code !== want.code) problems.push(`got ${got.code} (${got.message})`);
    else if (want.offset !== undefined && got.offset !== want.offset) problems.push(`offset ${got.offset}, want ${want.offset}`);
    const after = fs.readFileSync(file);
    if (sha(after) !== before) {
      const first = after.findIndex((v, i) => v !== bytes[i]);
      problems.push(`file modified (${bytes.length} → ${after.length} bytes, first difference at ${first === -1 ? bytes.length : first})`);
    }
    if (fs.existsSync(`${file}.lock`)) problems.push('lock file left behind');
    fs.rmSync(file, { force: true });
    return problems.length ? `${label}: ${problems.join('; ')}` : undefined;
  }

  async function checkAll(cases: { bytes: () => Buffer; want: { code: string; offset?: number }; label: string }[], opener: Opener = 'public'): Promise<void> {
    const failures: string[] = [];
    await pool(cases, opener === 'public' ? 3 : 1, async (c) => {
      const f = await check(c.bytes(), c.want, c.label, opener);
      if (f) failures.push(f);
    });
    expect(failures.length, `${failures.length}/${cases.length} cases failed, e.g.\n${failures.slice(0, 6).join('\n')}`).toBe(0);
  }

  function targetRecord(): Rec {
    const r = records.find((x) => x.kind === Kind.PUT && x.keyLen === 'target-record-key'.length && x.tx === undefined);
    if (!r) throw new Error('target record not found');
    return r;
  }

  /** Bit positions (in bits from the file start) of `count` seeded random bits inside `rec`'s payload. */
  function payloadBits(rec: Rec, count: number, seed: number): number[] {
    const random = rng(seed);
    return Array.from({ length: count }, () => (rec.start + HEADER) * 8 + Math.floor(random() * (rec.end - rec.start - HEADER) * 8));
  }

  /** `count` seeded random bits anywhere inside records that are not part of a transaction. */
  function sampledBits(count: number, seed: number): number[] {
    const random = rng(seed);
    const plain = records.filter((x) => x.tx === undefined);
    return Array.from({ length: count }, () => {
      const rec = plain[Math.floor(random() * plain.length)]!;
      return rec.start * 8 + Math.floor(random() * (rec.end - rec.start) * 8);
    });
  }

  const owner = (bit: number) => records.find((x) => x.start * 8 <= bit && bit < x.end * 8)!;

  function recordCases(bits: number[]) {
    return bits.map((bit) => ({
      bytes: () => flipBit(image, bit),
      want: { code: ErrorCode.CORRUPTION, offset: owner(bit).start },
      label: `byte ${bit >> 3} bit ${bit & 7} (record at ${owner(bit).start}, +${(bit >> 3) - owner(bit).start})`,
    }));
  }

  it('every bit of one record header, payload bits, sampled bits (recovery code in-process) → CORRUPTION at the damaged record, file untouched', async () => {
    const r = targetRecord();
    const header = Array.from({ length: HEADER * 8 }, (_, bit) => r.start * 8 + bit);
    await checkAll(recordCases([...header, ...payloadBits(r, 64, 0xb17f11b), ...sampledBits(128, 0x5a3b1e)]), 'inProcess');
  });

  it('one bit in every header field, payload bits, sampled bits (through Emdb.open) → CORRUPTION at the damaged record, file untouched', async () => {
    const r = targetRecord();
    // magic, CRC, kind, flags, reserved, namespace, key length, value length, expires at (low and high byte)
    const fields = [0, 4, 8, 9, 10, 12, 16, 20, 24, 31].map((byte, i) => (r.start + byte) * 8 + (i % 8));
    await checkAll(recordCases([...fields, ...payloadBits(r, 3, 0xb17f11b), ...sampledBits(6, 0x5a3b1e)]));
  });

  it('a damaged record inside a committed insertMany chunk → CORRUPTION at the damaged record (not at its TX_BEGIN)', async () => {
    const inTx = records.filter((x) => x.tx !== undefined);
    expect(inTx.map((x) => x.kind)).toEqual([Kind.TX_BEGIN, Kind.PUT, Kind.PUT, Kind.PUT, Kind.TX_COMMIT]);
    const cases = (bits: number[]) =>
      bits.map((bit) => {
        const rec = owner(bit);
        return {
          bytes: () => flipBit(image, bit),
          want: { code: ErrorCode.CORRUPTION, offset: rec.start },
          label: `kind ${rec.kind} record at ${rec.start}, byte +${(bit >> 3) - rec.start} (transaction at ${rec.tx})`,
        };
      });
    // In-process: a CRC bit and a payload bit of every record of the transaction.
    await checkAll(cases(inTx.flatMap((x) => [(x.start + 5) * 8 + 2, (x.end - 1) * 8])), 'inProcess');
    // Through Emdb.open: one bit per record.
    await checkAll(cases(inTx.map((x, i) => (i % 2 === 0 ? (x.start + 5) * 8 + 2 : (x.end - 1) * 8))));
  });

  it('a refused corrupt file stays refused: the next open neither truncates nor loses records', async () => {
    const r = targetRecord();
    const file = path.join(dir, 'twice.emdb');
    const damaged = flipBit(image, (r.end - 1) * 8);
    fs.writeFileSync(file, damaged);
    const first = await openOutcome(file);
    const second = await openOutcome(file);
    expect(first).toMatchObject({ code: ErrorCode.CORRUPTION, offset: r.start });
    expect(second, 'second open of the same damaged file').toMatchObject({ code: ErrorCode.CORRUPTION, offset: r.start });
    expect(fs.statSync(file).size).toBe(image.length);
  });

  it('prelude damage: magic → NOT_A_DATABASE, version → UNSUPPORTED_VERSION, any other checked byte → CORRUPTION', async () => {
    // Every bit of the checksummed prelude [0, 256) through the writer's open code in-process …
    // A version flip that lands on another readable version (3 → 2 or 1) is caught by the prelude CRC instead.
    const readableFlip = (bit: number) => [1, 2].includes((3 ^ (1 << (bit - 64))) >>> 0);
    const wantFor = (bit: number) =>
      bit < 64
        ? { code: ErrorCode.NOT_A_DATABASE }
        : bit < 96 && !readableFlip(bit)
          ? { code: ErrorCode.UNSUPPORTED_VERSION }
          : { code: ErrorCode.CORRUPTION, offset: 0 };
    await checkAll(
      Array.from({ length: 256 * 8 }, (_, bit) => ({ bytes: () => flipBit(image, bit), want: wantFor(bit), label: `prelude byte ${bit >> 3} bit ${bit & 7}` })),
      'inProcess',
    );
    // … and a few through Emdb.open.
    const random = rng(0x9e1de);
    const checked = Array.from({ length: 8 }, () => 12 * 8 + Math.floor(random() * (256 - 12) * 8));
    await checkAll([
      ...[0, 37, 63].map((bit) => ({ bytes: () => flipBit(image, bit), want: { code: ErrorCode.NOT_A_DATABASE }, label: `magic bit ${bit}` })),
      ...[66, 95].map((bit) => ({ bytes: () => flipBit(image, bit), want: { code: ErrorCode.UNSUPPORTED_VERSION }, label: `version bit ${bit}` })),
      ...checked.map((bit) => ({ bytes: () => flipBit(image, bit), want: { code: ErrorCode.CORRUPTION, offset: 0 }, label: `prelude bit ${bit}` })),
    ]);
  });

  it('a damaged active header slot falls back to the older slot and recovers everything', async () => {
    const a = slot(image, SLOT_A);
    const b = slot(image, SLOT_B);
    const active = a.seq > b.seq ? SLOT_A : SLOT_B;
    const inactive = active === SLOT_A ? SLOT_B : SLOT_A;
    const keys = [...model.keys()];
    const cases = [
      { label: 'active slot magic', bit: active * 8 + 3, reopen: true },
      { label: 'active slot sequence', bit: (active + 8) * 8 + 1, reopen: false },
      { label: 'active slot tail hint', bit: (active + 16) * 8 + 4, reopen: false },
      { label: 'active slot CRC', bit: (active + 60) * 8 + 7, reopen: false },
      { label: 'inactive slot tail hint', bit: (inactive + 16) * 8 + 4, reopen: false },
    ];
    for (const c of cases) {
      const file = path.join(dir, `slot-${seq++}.emdb`);
      const bytes = flipBit(image, c.bit);
      fs.writeFileSync(file, bytes);
      const db = await Emdb.open(file, { readers: 1 });
      try {
        expect(await db.len(), c.label).toBe(model.size);
        for (const k of keys) expect(db.getSync(k)?.toString('latin1'), `${c.label}: ${k}`).toBe(model.get(k));
        expect(db.getSync('key-5-' + 'k'.repeat(45)), c.label).toBeUndefined();
        // Nothing was residue, so open wrote nothing.
        expect(sha(fs.readFileSync(file)), c.label).toBe(sha(bytes));
      } finally {
        await db.close();
      }
      if (c.reopen) {
        // close checkpointed over the damaged slot; the file is healthy again.
        const again = await Emdb.open(file, { readers: 1 });
        try {
          expect(await again.len()).toBe(model.size);
          expect(again.getSync('target-record-key')?.toString()).toBe(model.get('target-record-key'));
        } finally {
          await again.close();
        }
      }
      fs.rmSync(file, { force: true });
    }
  });
});
