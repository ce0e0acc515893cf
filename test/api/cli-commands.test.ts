/**
 * Every CLI command end to end in a child process, on its success path:
 * put/get/del (text, hex, base64, stdin), namespaces, stats, scan bounds,
 * compact, backup, lock-holder, break-lock, verify, and --help for each.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Emdb, run, tmp } from './cli-helpers.js';

let dir: string;
let db: string;

beforeAll(async () => {
  dir = tmp();
  db = path.join(dir, 'db.emdb');
  const d = await Emdb.open(db, { readers: 1 });
  for (let i = 0; i < 20; i++) await d.insert(`k${String(i).padStart(2, '0')}`, `v${i}`);
  const ns = await d.namespace('bin');
  await ns.insert(Buffer.from([0, 1, 2]), Buffer.from([255, 0, 254]));
  await d.close();
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('emdb-js commands', () => {
  it('get prints the value bytes; hex/base64/json on request; exit 2 when absent', async () => {
    expect((await run(['get', db, 'k03'])).stdout.toString()).toBe('v3');
    expect((await run(['get', db, 'k03', '--value-hex'])).stdout.toString()).toBe('7633\n');
    const bin = await run(['get', db, '000102', '--key-hex', '-n', 'bin']);
    expect(bin.code).toBe(0);
    expect([...bin.stdout]).toEqual([255, 0, 254]);
    const json = JSON.parse((await run(['get', db, 'AAEC', '--key-base64', '-n', 'bin', '--json'])).stdout.toString());
    expect(json).toMatchObject({ value: Buffer.from([255, 0, 254]).toString('base64'), valueEncoding: 'base64' });
    const missing = await run(['get', db, 'nope']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/not found/);
  });

  it('put takes a value argument or stdin (binary safe), del removes; exit 2 for an absent key', async () => {
    expect((await run(['put', db, 'p1', 'hello'])).code).toBe(0);
    const bytes = Buffer.from([0, 10, 13, 255, 128]);
    expect((await run(['put', db, 'p2'], { input: bytes })).code).toBe(0);
    expect((await run(['put', db, 'p3', '-', '--value-base64'], { input: 'aGk=\n' })).code).toBe(0);
    expect((await run(['get', db, 'p1'])).stdout.toString()).toBe('hello');
    expect([...(await run(['get', db, 'p2'])).stdout]).toEqual([...bytes]);
    expect((await run(['get', db, 'p3'])).stdout.toString()).toBe('hi');
    expect((await run(['del', db, 'p1'])).code).toBe(0);
    expect((await run(['get', db, 'p1'])).code).toBe(2);
    expect((await run(['del', db, 'p1'])).code).toBe(2);
    await run(['del', db, 'p2']);
    await run(['del', db, 'p3']);
  });

  it('namespaces and stats list what is there', async () => {
    expect((await run(['namespaces', db])).stdout.toString()).toBe('bin\t1\n');
    expect(JSON.parse((await run(['namespaces', db, '--json'])).stdout.toString())).toEqual([{ name: 'bin', records: 1 }]);
    const stats = JSON.parse((await run(['stats', db, '--json'])).stdout.toString());
    expect(stats).toMatchObject({ records: 21, namespaces: 1 });
    expect((await run(['stats', db])).stdout.toString()).toMatch(/^records\s+21$/m);
  });

  it('scan filters by prefix and bounds, sorts, limits, reverses, and says it scans', async () => {
    const keys = async (args: string[]) => {
      const r = await run(['scan', db, '--keys-only', ...args]);
      expect(r.code).toBe(0);
      return r.stdout.toString().trim().split('\n').filter(Boolean);
    };
    expect(await keys(['--prefix', 'k1'])).toEqual(['k10', 'k11', 'k12', 'k13', 'k14', 'k15', 'k16', 'k17', 'k18', 'k19']);
    expect(await keys(['--gte', 'k05', '--lt', 'k08'])).toEqual(['k05', 'k06', 'k07']);
    expect(await keys(['--gt', 'k05', '--lte', 'k08', '--reverse'])).toEqual(['k08', 'k07', 'k06']);
    expect(await keys(['--limit', '3', '--reverse'])).toEqual(['k19', 'k18', 'k17']);
    expect(await keys(['--limit', '0'])).toEqual([]);
    const full = await run(['scan', db, '--prefix', 'k0', '--limit', '2']);
    expect(full.stdout.toString()).toBe('k00\tv0\nk01\tv1\n');
    expect(full.stderr).toMatch(/scanning every record/);
    const json = (await run(['scan', db, '-n', 'bin', '--json'])).stdout.toString().trim();
    expect(JSON.parse(json)).toEqual({ key: 'AAEC', value: '/wD+' });
  });

  it('compact and backup write their reports; the backup opens with the same data', async () => {
    await run(['put', db, 'k00', 'again']);
    await run(['put', db, 'k00', 'v0']);
    const c = await run(['compact', db, '--json']);
    expect(c.code).toBe(0);
    const report = JSON.parse(c.stdout.toString());
    expect(report.keysKept).toBe(21);
    expect(report.bytesAfter).toBeLessThan(report.bytesBefore);
    const dest = path.join(dir, 'copy.emdb');
    const b = await run(['backup', db, dest]);
    expect(b.code).toBe(0);
    expect((await run(['get', dest, 'k07'])).stdout.toString()).toBe('v7');
  });

  it('lock-holder, break-lock and verify on a closed database', async () => {
    expect((await run(['lock-holder', db])).stdout.toString()).toBe('not locked\n');
    expect(JSON.parse((await run(['lock-holder', db, '--json'])).stdout.toString())).toEqual({ locked: false });
    expect((await run(['break-lock', db])).stdout.toString()).toBe('not locked\n');
    const v = await run(['verify', db]);
    expect(v.code).toBe(0);
    expect(v.stdout.toString()).toMatch(/result\s+ok/);
    const vj = JSON.parse((await run(['verify', db, '--json'])).stdout.toString());
    expect(vj).toMatchObject({ ok: true, prefixCrc: 'ok' });
    expect('damage' in vj).toBe(false);
  });

  it('every command has --help; --version and the command list work', async () => {
    const list = await run(['--help']);
    expect(list.code).toBe(0);
    const names = ['stats', 'get', 'put', 'del', 'scan', 'namespaces', 'dump', 'load', 'verify', 'compact', 'backup', 'lock-holder', 'break-lock'];
    for (const n of names) expect(list.stdout.toString()).toContain(`  ${n} `);
    for (const n of names) {
      const h = await run([n, '--help']);
      expect(h.code, n).toBe(0);
      expect(h.stdout.toString(), n).toContain(`Usage: emdb-js ${n} PATH`);
      expect(h.stdout.toString(), n).toContain('ERR_EMDB_LOCKED');
    }
    expect((await run(['--version'])).stdout.toString()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
