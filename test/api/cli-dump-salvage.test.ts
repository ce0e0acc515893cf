/**
 * `dump --salvage` (outside report: the CORRUPTION hint said "dump what still
 * reads", but dump on a damaged file exited 3 with nothing). It reads the file
 * itself, skips damaged records by resynchronising on the next intact one,
 * applies the log's semantics (last write that reads wins, tombstones, dropped
 * namespaces, transactions only when whole) and writes a dump that `load`
 * takes, listing what it skipped with offsets. The file is never changed.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { walkRecords } from '../helpers/log-image.js';
import { contents, Emdb, run, tmp } from './cli-helpers.js';

const dir = tmp();
let image: Buffer;
let intact: string[];
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const hex = (s: string): string => Buffer.from(s).toString('hex');
const row = (ns: string, k: string, v: string): string => `${ns}\t${hex(k)}\t${hex(v)}`;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  const file = path.join(dir, 'source.emdb');
  const db = await Emdb.open(file, { readers: 1 });
  for (let i = 0; i < 50; i++) await db.insert(`a${i}`, `v${i}`);
  await db.insert('a7', 'newer');
  await db.remove('a3');
  const ns = await db.namespace('n');
  await ns.insert('n1', 'in n');
  const gone = await db.namespace('gone');
  await gone.insert('g1', 'dropped');
  await db.dropNamespace('gone');
  await db.insertMany(Array.from({ length: 20 }, (_, i) => [`t${i}`, `tx${i}`] as const));
  await db.insertWithTtl('ttl1', 'expires', 3_600_000);
  await db.insert('last', 'final');
  await db.close();
  image = fs.readFileSync(file);
  intact = await contents(file);
});

/** The record holding key `key` (the last one, for a key written twice). */
function recordOf(key: string): { start: number; end: number; tx: number | undefined } {
  const k = Buffer.from(key);
  const hits = walkRecords(image).records.filter((r) => r.keyLen === k.length && image.subarray(r.start + 32, r.start + 32 + r.keyLen).equals(k));
  return hits.at(-1)!;
}

/** Writes `bytes` as a database, salvages it into a dump, loads the dump; returns the loaded contents and the salvage's stderr. */
async function salvage(name: string, bytes: Buffer, format = 'ndjson'): Promise<{ rows: string[]; stderr: string; skipped: { offset: number; bytes: number; reason: string }[] }> {
  const file = path.join(dir, `${name}.emdb`);
  fs.writeFileSync(file, bytes);
  const out = path.join(dir, `${name}.dump`);
  const r = await run(['dump', file, '--salvage', '--format', format, '--out', out, '--json']);
  expect(r.code, r.stderr).toBe(0);
  const summary = JSON.parse(r.stdout.toString()) as { skipped: { offset: number; bytes: number; reason: string }[] };
  const text = await run(['dump', file, '--salvage', '--out', `${out}.again`]);
  expect(sha(fs.readFileSync(file)), 'the damaged file is left as it was').toBe(sha(bytes));
  const copy = path.join(dir, `${name}-copy.emdb`);
  const l = await run(['load', copy, '--in', out]);
  expect(l.code, l.stderr).toBe(0);
  return { rows: await contents(copy), stderr: text.stderr, skipped: summary.skipped };
}

describe('dump --salvage', () => {
  it('an intact file: the same entries as a dump, nothing skipped', async () => {
    const { rows, stderr, skipped } = await salvage('intact', image);
    expect(rows).toEqual(intact);
    expect(skipped).toEqual([]);
    expect(stderr).toContain('nothing skipped');
    expect(intact).not.toContain(row('gone', 'g1', 'dropped'));
    expect(intact.some((r) => r.startsWith(`\t${hex('a3')}\t`))).toBe(false);
  });

  it('a damaged plain record: dump exits 3, salvage skips that record only and says where', async () => {
    const rec = recordOf('a10');
    const bytes = Buffer.from(image);
    bytes[rec.end - 1]! ^= 0x20;
    const file = path.join(dir, 'plain-check.emdb');
    fs.writeFileSync(file, bytes);
    expect((await run(['dump', file])).code).toBe(3);
    const { rows, stderr, skipped } = await salvage('plain', bytes);
    expect(rows).toEqual(intact.filter((r) => r !== row('', 'a10', 'v10')));
    // Its header still parses: the kind it claims is reported (untrusted, the CRC failed).
    expect(skipped).toEqual([{ offset: rec.start, bytes: rec.end - rec.start, reason: 'record checksum mismatch', looksLike: 'write' }]);
    expect(stderr).toContain(`offset ${rec.start}`);
  });

  it('the newest write of a key is damaged: the last write that reads whole wins', async () => {
    const rec = recordOf('a7');
    const bytes = Buffer.from(image);
    bytes[rec.end - 1]! ^= 0xff;
    const { rows } = await salvage('overwrite', bytes, 'msgpack');
    expect(rows).toEqual(intact.map((r) => (r === row('', 'a7', 'newer') ? row('', 'a7', 'v7') : r)).sort());
  });

  it('damage inside a transaction drops the whole transaction, and nothing else', async () => {
    const body = recordOf('t5');
    expect(body.tx).toBeDefined();
    const bytes = Buffer.from(image);
    bytes[body.start + 36]! ^= 0x01;
    const { rows, skipped } = await salvage('tx', bytes);
    const chunk = Array.from({ length: 20 }, (_, i) => row('', `t${i}`, `tx${i}`));
    expect(rows).toEqual(intact.filter((r) => !chunk.includes(r)));
    expect(rows).toContain(row('', 'last', 'final'));
    expect(rows).toContain(row('n', 'n1', 'in n'));
    expect(skipped.some((s) => s.offset === body.tx && s.reason.startsWith('transaction dropped'))).toBe(true);
    expect(skipped.some((s) => s.offset === body.start)).toBe(true);
  });

  it('the file cut inside its last record: everything before it, the cut reported', async () => {
    const rec = recordOf('last');
    const { rows, skipped } = await salvage('cut', image.subarray(0, rec.end - 3));
    expect(rows).toEqual(intact.filter((r) => r !== row('', 'last', 'final')));
    // The last close checkpointed the whole log: the 3 bytes cut off are reported missing too (cli-dump-salvage-short-file.test.ts).
    expect(skipped).toEqual([
      { offset: rec.start, bytes: rec.end - 3 - rec.start, reason: 'truncated record', looksLike: 'write' },
      { offset: rec.end - 3, bytes: 3, reason: expect.stringContaining('missing') as string },
    ]);
  });

  it('a zero-filled run over records (a lost page) is skipped and the walk resumes after it', async () => {
    const from = recordOf('a20');
    const to = recordOf('a24');
    const bytes = Buffer.from(image);
    bytes.fill(0, from.start, to.end);
    const { rows, skipped } = await salvage('zeros', bytes);
    const lost = [20, 21, 22, 23, 24].map((i) => row('', `a${i}`, `v${i}`));
    expect(rows).toEqual(intact.filter((r) => !lost.includes(r)));
    expect(skipped).toEqual([{ offset: from.start, bytes: to.end - from.start, reason: 'bad record magic' }]);
  });

  it('a namespace whose creation record is damaged: its keys are kept under a made-up name and reported', async () => {
    const rec = recordOf('n');
    const bytes = Buffer.from(image);
    bytes[rec.end - 1]! ^= 0x01;
    const { rows, skipped } = await salvage('ns-create', bytes);
    expect(rows.filter((r) => r.startsWith('n\t'))).toEqual([]);
    expect(rows.some((r) => /^salvaged-namespace-\d+\t/.test(r) && r.endsWith(`\t${hex('n1')}\t${hex('in n')}`))).toBe(true);
    expect(skipped.map((s) => s.offset)).toEqual([rec.start]);
  });

  it('refuses an encrypted database: it cannot be read without opening it', async () => {
    const r = await run(['dump', path.join(dir, 'intact.emdb'), '--salvage', '--encryption-key-env', 'K'], { env: { K: 'ab'.repeat(32) } });
    expect(r.code).toBe(1);
  });
});
