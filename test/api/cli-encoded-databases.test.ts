/**
 * The command line on databases whose values are not binary. Found by outside
 * testing: stats, get, scan, namespaces and dump refused (exit 3,
 * ERR_EMDB_INVALID_CONFIG) any database created with valueEncoding 'utf8',
 * and any command that opened a namespace created with another encoding than
 * the database's. The CLI now reads and writes the stored bytes whatever was
 * recorded, a dump records each value encoding, and load recreates the
 * database and its namespaces with them (so the copy opens with the same
 * options as the source), refusing a target that recorded another.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Emdb, run, tmp } from './cli-helpers.js';

const dir = tmp('emdb-cli-encoded-');
const src = path.join(dir, 'src.emdb');

beforeAll(async () => {
  const db = await Emdb.open<string>(src, { valueEncoding: 'utf8', readers: 1 });
  await db.insert('greeting', 'héllo');
  const j = await db.namespace<unknown>('j', { valueEncoding: 'json' });
  await j.insert('doc', { a: [1, 2], b: 'x' });
  const m = await db.namespace<unknown>('m', { valueEncoding: 'msgpack' });
  await m.insert('big', { n: 12345678901, s: 'y' });
  const b = await db.namespace<Buffer>('b', { valueEncoding: 'binary' });
  await b.insert('raw', Buffer.from([0, 1, 255]));
  await db.close();
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('the CLI on databases with value encodings', () => {
  it('stats, get, scan and namespaces read a utf8 database with json, msgpack and binary namespaces', async () => {
    const stats = await run(['stats', src, '--json']);
    expect(stats.code, stats.stderr).toBe(0);
    expect(JSON.parse(stats.stdout.toString()).records).toBe(4);
    const get = await run(['get', src, 'greeting']);
    expect(get.code, get.stderr).toBe(0);
    expect(get.stdout.toString()).toBe('héllo');
    const doc = await run(['get', src, 'doc', '-n', 'j']);
    expect(doc.code, doc.stderr).toBe(0);
    expect(JSON.parse(doc.stdout.toString())).toEqual({ a: [1, 2], b: 'x' });
    const scan = await run(['scan', src]);
    expect(scan.code, scan.stderr).toBe(0);
    expect(scan.stdout.toString()).toContain('greeting');
    const names = await run(['namespaces', src]);
    expect(names.code, names.stderr).toBe(0);
    for (const n of ['j', 'm', 'b']) expect(names.stdout.toString()).toContain(n);
  });

  it('put stores the given bytes; the database still opens with its own encoding', async () => {
    const copy = path.join(dir, 'put.emdb');
    fs.copyFileSync(src, copy);
    const put = await run(['put', copy, 'added', 'wörld']);
    expect(put.code, put.stderr).toBe(0);
    const db = await Emdb.open<string>(copy, { valueEncoding: 'utf8', readers: 1 });
    try {
      expect(db.getSync('added')).toBe('wörld');
    } finally {
      await db.close();
    }
  });

  it('put refuses a value the database or namespace could not read back (exit 1), and stores one it can', async () => {
    const copy = path.join(dir, 'put-check.emdb');
    fs.copyFileSync(src, copy);
    const before = fs.readFileSync(copy);
    const notJson = await run(['put', copy, 'bad', '{not json', '-n', 'j']);
    expect(notJson.code).toBe(1);
    expect(notJson.stderr).toContain('not JSON');
    const notUtf8 = await run(['put', copy, 'bad', 'ff', '--value-hex']);
    expect(notUtf8.code).toBe(1);
    const notMsgpack = await run(['put', copy, 'bad', 'd9056162', '--value-hex', '-n', 'm']);
    expect(notMsgpack.code).toBe(1);
    expect(fs.readFileSync(copy).equals(before)).toBe(true);
    const ok = await run(['put', copy, 'good', '{"x":1}', '-n', 'j']);
    expect(ok.code, ok.stderr).toBe(0);
    const db = await Emdb.open<unknown>(copy, { valueEncoding: 'utf8', readers: 1 });
    try {
      expect((await db.namespace<unknown>('j', { valueEncoding: 'json' })).getSync('good')).toEqual({ x: 1 });
    } finally {
      await db.close();
    }
  });

  for (const format of ['ndjson', 'msgpack']) {
    it(`dump | load (${format}) makes a copy that opens with the source's encodings and holds the same values`, async () => {
      const dumpFile = path.join(dir, `d.${format}`);
      const dump = await run(['dump', src, '--format', format, '--out', dumpFile]);
      expect(dump.code, dump.stderr).toBe(0);
      const target = path.join(dir, `copy-${format}.emdb`);
      const load = await run(['load', target, '--in', dumpFile]);
      expect(load.code, load.stderr).toBe(0);
      const db = await Emdb.open<string>(target, { valueEncoding: 'utf8', readers: 1 });
      try {
        expect(db.getSync('greeting')).toBe('héllo');
        expect((await db.namespace<unknown>('j', { valueEncoding: 'json' })).getSync('doc')).toEqual({ a: [1, 2], b: 'x' });
        expect((await db.namespace<unknown>('m', { valueEncoding: 'msgpack' })).getSync('big')).toEqual({ n: 12345678901, s: 'y' });
        expect((await db.namespace<Buffer>('b', { valueEncoding: 'binary' })).getSync('raw')).toEqual(Buffer.from([0, 1, 255]));
      } finally {
        await db.close();
      }
    });
  }

  it('load refuses a target database that recorded another encoding, and leaves it unchanged', async () => {
    const dumpFile = path.join(dir, 'refuse.ndjson');
    expect((await run(['dump', src, '--out', dumpFile])).code).toBe(0);
    const target = path.join(dir, 'json-target.emdb');
    const db = await Emdb.open<unknown>(target, { valueEncoding: 'json', readers: 1 });
    await db.insert('x', { keep: true });
    await db.close();
    const before = fs.readFileSync(target);
    const load = await run(['load', target, '--in', dumpFile]);
    // Bad input (the dump's encoding against the target's), not a database error: exit 1.
    expect(load.code).toBe(1);
    expect(load.stderr).toContain('ERR_EMDB_INVALID_CONFIG');
    expect(fs.readFileSync(target).equals(before)).toBe(true);
  });
});
