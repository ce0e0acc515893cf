/**
 * Crash residue after the last good record: a file extended by a crash holds
 * zeros or garbage past its data. With the tail hint before that residue, open
 * must recover exactly the original records and truncate the file back to the
 * end of the last good record. Residue that imitates a record (valid magic but
 * bad CRC, impossible lengths, a transaction without its commit) is dropped too,
 * together with anything after it.
 */
import { crc32 } from '@node-rs/crc32';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Emdb, rmrf, tmpDir } from '../helpers/common.js';
import { HEADER, Kind, RECORD_MAGIC, activeTailHint, pool, rng } from '../helpers/log-image.js';

// docs/FORMAT.md: record flag bit 1, "inside a transaction"
const IN_TX = 2;

/** A complete, valid plaintext record (CRC over bytes [8, end)). */
function record(kind: number, key: string, value: Buffer | string, flags = 0): Buffer {
  const k = Buffer.from(key);
  const v = Buffer.from(value);
  const buf = Buffer.alloc(HEADER + k.length + v.length);
  buf.writeUInt32LE(RECORD_MAGIC, 0);
  buf[8] = kind;
  buf[9] = flags;
  buf.writeUInt32LE(k.length, 16);
  buf.writeUInt32LE(v.length, 20);
  k.copy(buf, HEADER);
  v.copy(buf, HEADER + k.length);
  buf.writeUInt32LE(crc32(buf.subarray(8)), 4);
  return buf;
}

function txBegin(txId: number, count: number, bodyBytes: number): Buffer {
  const v = Buffer.alloc(16);
  v.writeUInt32LE(txId, 0);
  v.writeUInt32LE(count, 4);
  v.writeUInt32LE(bodyBytes, 8);
  return record(Kind.TX_BEGIN, '', v);
}

function txCommit(txId: number, count: number): Buffer {
  const v = Buffer.alloc(8);
  v.writeUInt32LE(txId, 0);
  v.writeUInt32LE(count, 4);
  return record(Kind.TX_COMMIT, '', v);
}

function garbage(n: number, seed: number): Buffer {
  const r = rng(seed);
  const buf = Buffer.from(Array.from({ length: n }, () => Math.floor(r() * 256)));
  // Random residue, not a record: make sure it cannot start with the record magic by chance.
  if (n >= 4 && buf.readUInt32LE(0) === RECORD_MAGIC) buf[0]! ^= 0xff;
  return buf;
}

interface Case {
  label: string;
  tail: Buffer;
  /** Also append after recovery, close, reopen. */
  reuse?: boolean;
}

function cases(): Case[] {
  const zeros = [1, 31, 32, 33, 4095, 4096, 4097, 100_000].map((n) => ({ label: `${n} zero bytes`, tail: Buffer.alloc(n), reuse: n === 100_000 }));
  const noise = [1, 7, 32, 33, 500, 4096, 65_536].map((n, i) => ({ label: `${n} random bytes`, tail: garbage(n, 1000 + i), reuse: n === 500 }));

  const good = record(Kind.PUT, 'phantom', 'must never appear');
  const badCrc = Buffer.from(good);
  badCrc[4]! ^= 1;
  const badPayload = Buffer.from(good);
  badPayload[badPayload.length - 1]! ^= 0x10;
  const headerOnly = good.subarray(0, HEADER);
  const zeroPayload = Buffer.concat([good.subarray(0, HEADER), Buffer.alloc(good.length - HEADER)]);
  const magicThenZeros = Buffer.alloc(64);
  magicThenZeros.writeUInt32LE(RECORD_MAGIC, 0);
  const hugeKey = Buffer.from(good);
  hugeKey.writeUInt32LE(0xffffffff, 16);
  const body = [record(Kind.PUT, 'phantom-a', 'tx body', IN_TX), record(Kind.PUT, 'phantom-b', 'tx body', IN_TX)];
  const bodyBytes = body[0]!.length + body[1]!.length;
  const uncommitted = Buffer.concat([txBegin(77, 2, bodyBytes), ...body]);
  const wrongCommit = Buffer.concat([txBegin(78, 2, bodyBytes), ...body, txCommit(79, 2)]);
  const imitations: Case[] = [
    { label: 'valid magic, bad CRC', tail: badCrc, reuse: true },
    { label: 'valid magic, bad CRC, then zeros', tail: Buffer.concat([badCrc, Buffer.alloc(4096)]) },
    { label: 'valid magic, damaged payload', tail: badPayload },
    { label: 'valid magic, bad CRC, then a valid record', tail: Buffer.concat([badCrc, good]) },
    { label: 'record header without its payload', tail: headerOnly },
    { label: 'record header, payload zeroed', tail: zeroPayload },
    { label: 'record magic then zeros', tail: magicThenZeros },
    { label: 'valid magic, key length 2^32-1', tail: hugeKey },
    { label: 'transaction without its commit', tail: uncommitted, reuse: true },
    { label: 'transaction with a mismatched commit', tail: wrongCommit },
    { label: 'committed transaction cut short, then zeros', tail: Buffer.concat([txBegin(80, 2, bodyBytes), ...body, txCommit(80, 2).subarray(0, 20), Buffer.alloc(100)]) },
  ];
  return [...zeros, ...noise, ...imitations];
}

describe('crash residue after the last record', () => {
  let dir: string;
  let base: Buffer;
  const model = new Map<string, string>();
  const phantoms = ['phantom', 'phantom-a', 'phantom-b'];

  beforeAll(async () => {
    dir = tmpDir('emdb-tail-');
    const file = path.join(dir, 'source.emdb');
    const db = await Emdb.open(file, { readers: 1 });
    for (let i = 0; i < 20; i++) {
      const k = `key-${i}`.padEnd(5 + ((i * 13) % 60), '.');
      const v = String.fromCharCode(97 + i).repeat((i * 331) % 2500);
      await db.insert(k, v);
      model.set(k, v);
    }
    const chunk: [string, string][] = [['bulk-1', 'one'], ['bulk-2', 'two'.repeat(50)]];
    await db.insertMany(chunk);
    for (const [k, v] of chunk) model.set(k, v);
    await db.checkpoint();
    // Written after the checkpoint and only flushed: the tail hint stays before them.
    await db.insert('after-checkpoint', 'flushed only');
    model.set('after-checkpoint', 'flushed only');
    expect(await db.remove('key-3'.padEnd(5 + 39, '.'))).toBe(true);
    model.delete('key-3'.padEnd(5 + 39, '.'));
    await db.flush();
    // The log as a crash now would leave it, without the zeros preallocated past it (a residue case of its own below).
    base = fs.readFileSync(file).subarray(0, (await db.stats()).fileBytes);
    await db.close();
    expect(activeTailHint(base)).toBeLessThan(base.length);
  });

  afterAll(() => rmrf(dir));

  it('drops every kind of residue and truncates back to the last good record', async () => {
    const all = cases();
    const failures: string[] = [];
    let n = 0;
    await pool(all, 3, async (c) => {
      const file = path.join(dir, `case-${n++}.emdb`);
      fs.writeFileSync(file, Buffer.concat([base, c.tail]));
      const problems: string[] = [];
      const verify = async (db: Emdb<Buffer>, extra: Map<string, string>) => {
        const want = new Map([...model, ...extra]);
        const len = await db.len();
        if (len !== want.size) problems.push(`len ${len}, want ${want.size}`);
        for (const [k, v] of want) if (db.getSync(k)?.toString('latin1') !== v) problems.push(`${k} wrong`);
        for (const k of phantoms) if (db.getSync(k) !== undefined) problems.push(`phantom ${k} present`);
      };
      try {
        const db = await Emdb.open(file, { readers: 1 });
        try {
          const size = fs.statSync(file).size;
          if (size !== base.length) problems.push(`file is ${size} bytes after open, want ${base.length}`);
          await verify(db, new Map());
          if (c.reuse) await db.insert('appended', c.label);
        } finally {
          await db.close();
        }
        if (c.reuse) {
          const again = await Emdb.open(file, { readers: 1 });
          try {
            await verify(again, new Map([['appended', c.label]]));
          } finally {
            await again.close();
          }
        }
      } catch (err) {
        problems.push(`open failed: ${(err as { code?: string }).code} ${(err as Error).message}`);
      }
      fs.rmSync(file, { force: true });
      if (problems.length) failures.push(`${c.label}: ${problems.slice(0, 4).join('; ')}`);
    });
    expect(failures).toEqual([]);
  });

  it('a control: a valid record appended in the same way is recovered, so the cases above are dropped for their damage', async () => {
    const file = path.join(dir, 'control.emdb');
    const body = [record(Kind.PUT, 'phantom-a', 'tx body', IN_TX), record(Kind.PUT, 'phantom-b', 'tx body', IN_TX)];
    const tx = Buffer.concat([txBegin(81, 2, body[0]!.length + body[1]!.length), ...body, txCommit(81, 2)]);
    const good = record(Kind.PUT, 'phantom', 'valid after all');
    fs.writeFileSync(file, Buffer.concat([base, good, tx, Buffer.alloc(50)]));
    const db = await Emdb.open(file, { readers: 1 });
    try {
      expect(db.getSync('phantom')?.toString()).toBe('valid after all');
      expect(db.getSync('phantom-a')?.toString()).toBe('tx body');
      expect(db.getSync('phantom-b')?.toString()).toBe('tx body');
      expect(await db.len()).toBe(model.size + 3);
      expect(fs.statSync(file).size).toBe(base.length + good.length + tx.length);
    } finally {
      await db.close();
    }
  });
});
