/**
 * dump | load round trips: 100,000 records with binary keys and values (zero
 * bytes, newlines, 0xff, empty values) across the default namespace, three
 * named ones and an empty one, in both formats, through a file and through a
 * pipe: the copy holds the same namespaces, keys and values. A dump cut short is
 * refused; expiry times are kept when the build has TTLs and refused (unless
 * --ignore-ttl) when it does not.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, contents, Emdb, run, tmp } from './cli-helpers.js';

const RECORDS = 100_000;
const dir = tmp();
const src = path.join(dir, 'src.emdb');
let expected: string[];

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

beforeAll(async () => {
  const rand = rng(18);
  const db = await Emdb.open<Buffer>(src, { readers: 1 });
  const spaces = [db, await db.namespace<Buffer>('alpha'), await db.namespace<Buffer>('beta'), await db.namespace<Buffer>('γ unicode')];
  await db.namespace('empty');
  for (let s = 0; s < spaces.length; s++) {
    await spaces[s]!.insertMany((function* () {
      for (let i = s; i < RECORDS; i += spaces.length) {
        const key = Buffer.alloc(4 + Math.floor(rand() * 20));
        for (let j = 4; j < key.length; j++) key[j] = Math.floor(rand() * 256);
        key.writeUInt32BE(i, 0);
        const value = Buffer.alloc(i % 97 === 0 ? 0 : Math.floor(rand() * 200));
        for (let j = 0; j < value.length; j++) value[j] = [0, 10, 13, 255, 34, 92][j % 6]! ^ (i & j & 0xff);
        yield [key, value] as [Buffer, Buffer];
      }
    })());
  }
  await db.close();
  expected = await contents(src);
  expect(expected).toHaveLength(RECORDS);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function namespacesOf(file: string): Promise<string[]> {
  return JSON.parse((await run(['namespaces', file, '--json'])).stdout.toString()).map((n: { name: string }) => n.name);
}

describe('dump | load', () => {
  it('ndjson through files: identical namespaces, keys and values', async () => {
    const out = path.join(dir, 'dump.ndjson');
    const d = await run(['dump', src, '--out', out, '--json']);
    expect(d.code, d.stderr).toBe(0);
    expect(JSON.parse(d.stdout.toString())).toMatchObject({ records: RECORDS, namespaces: 4 });
    const lines = fs.readFileSync(out, 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(RECORDS + 2);
    expect(JSON.parse(lines[0]!)).toMatchObject({ emdbDump: 1, format: 'ndjson', namespaces: ['alpha', 'beta', 'empty', 'γ unicode'], records: RECORDS });
    expect(JSON.parse(lines.at(-1)!)).toEqual({ end: true, records: RECORDS });
    const copy = path.join(dir, 'copy-ndjson.emdb');
    const l = await run(['load', copy, '--in', out, '--json']);
    expect(l.code, l.stderr).toBe(0);
    expect(JSON.parse(l.stdout.toString())).toMatchObject({ records: RECORDS });
    expect(await namespacesOf(copy)).toEqual(['alpha', 'beta', 'empty', 'γ unicode']);
    expect(await contents(copy)).toEqual(expected);
  });

  it('msgpack through a shell pipe: identical database, format detected by load', async () => {
    const copy = path.join(dir, 'copy-msgpack.emdb');
    const node = `"${process.execPath}" "${CLI}"`;
    await promisify(execFile)('bash', ['-c', `set -eo pipefail; ${node} dump "${src}" -q --format msgpack | ${node} load "${copy}" -q`]);
    expect(await namespacesOf(copy)).toEqual(['alpha', 'beta', 'empty', 'γ unicode']);
    expect(await contents(copy)).toEqual(expected);
  });

  it('a dump cut short is refused, after loading a consistent prefix', async () => {
    const full = fs.readFileSync(path.join(dir, 'dump.ndjson'));
    // Cut at a line boundary: every line parses, only the end marker is missing.
    const cut = full.subarray(0, full.lastIndexOf(10, full.length >> 1) + 1);
    const copy = path.join(dir, 'cut.emdb');
    const r = await run(['load', copy], { input: cut });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cut short|end marker/);
    expect(fs.existsSync(`${copy}.lock`)).toBe(false);
    const got = await contents(copy);
    const all = new Set(expected);
    expect(got.every((row) => all.has(row))).toBe(true);
  });

  it('expiry times: kept with TTLs in the build, refused without them unless --ignore-ttl', async () => {
    const later = Date.now() + 3_600_000;
    const dump = [
      JSON.stringify({ emdbDump: 1, format: 'ndjson', tool: 'emdb-js', toolVersion: 'x', createdAt: '', namespaces: ['s'], records: 3 }),
      JSON.stringify({ ns: 's', k: Buffer.from('live').toString('base64'), v: 'AA==', x: later }),
      JSON.stringify({ ns: 's', k: Buffer.from('gone').toString('base64'), v: 'AA==', x: Date.now() - 1000 }),
      JSON.stringify({ ns: 's', k: Buffer.from('plain').toString('base64'), v: 'AQ==' }),
      JSON.stringify({ end: true, records: 3 }),
    ].join('\n');
    const copy = path.join(dir, 'ttl.emdb');
    const hasTtl = typeof (Emdb.prototype as unknown as { insertWithTtl?: unknown }).insertWithTtl === 'function';
    const r = await run(['load', copy, '--json'], { input: dump });
    if (hasTtl) {
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout.toString())).toMatchObject({ records: 2, expiredSkipped: 1 });
      const back = (await run(['dump', copy, '-q'])).stdout.toString();
      const live = back.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((o) => o.k === Buffer.from('live').toString('base64'));
      expect(Math.abs(live.x - later)).toBeLessThan(5_000);
      const plain = back.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((o) => o.k === Buffer.from('plain').toString('base64'));
      expect(plain.x).toBeUndefined();
    } else {
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/no TTLs/);
      const ignored = await run(['load', copy, '--ignore-ttl', '--json'], { input: dump });
      expect(ignored.code, ignored.stderr).toBe(0);
      expect(JSON.parse(ignored.stdout.toString())).toMatchObject({ records: 3, ttlDropped: 2 });
    }
  });
});
