/**
 * How the CLI fails: bad arguments (exit 1), a missing database or key (exit 2,
 * and nothing is created), a database held by another process (exit 3,
 * ERR_EMDB_LOCKED and a hint), and a damaged file (verify: exit 3 with the
 * offset of the damaged record, matching what an open reports).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Emdb, ErrorCode, run, tmp } from './cli-helpers.js';

const dir = tmp();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('emdb-js failures', () => {
  it('bad arguments exit 1 with the usage line', async () => {
    const db = path.join(dir, 'args.emdb');
    const cases: string[][] = [[], ['frobnicate', db], ['get'], ['get', db], ['get', db, 'a', 'b'], ['get', db, 'a', '--bogus'], ['get', db, 'zz', '--key-hex', '--key-base64'], ['get', db, 'xyz', '--key-hex'], ['scan', db, '--limit', 'ten'], ['dump', db, '--format', 'csv']];
    for (const args of cases) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toMatch(/usage/);
    }
    expect(fs.existsSync(db)).toBe(false);
  });

  it('a missing database exits 2 and is not created', async () => {
    const db = path.join(dir, 'missing.emdb');
    for (const args of [['get', db, 'a'], ['stats', db], ['scan', db], ['dump', db], ['verify', db], ['del', db, 'a'], ['compact', db], ['lock-holder', db]]) {
      const r = await run(args);
      expect(r.code, args[0]).toBe(2);
      expect(r.stderr, args[0]).toMatch(/no database at/);
    }
    expect(fs.existsSync(db)).toBe(false);
    const json = await run(['get', db, 'a', '--json']);
    expect(JSON.parse(json.stderr)).toMatchObject({ error: { exitCode: 2 } });
  });

  it('a database open in another process: ERR_EMDB_LOCKED, exit 3, a hint; lock-holder names the holder', async () => {
    const db = path.join(dir, 'held.emdb');
    const holder = spawn(process.execPath, ['--input-type=module', '-e', `
      import { Emdb } from ${JSON.stringify(path.resolve(import.meta.dirname, '../../dist/src/index.js'))};
      const db = await Emdb.open(${JSON.stringify(db)}, { readers: 1 });
      await db.insert('a', '1');
      console.log('ready');
      process.stdin.once('data', async () => { await db.close(); process.exit(0); });
    `], { stdio: ['pipe', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => holder.stdout!.once('data', () => resolve()));
    try {
      for (const args of [['get', db, 'a'], ['put', db, 'b', '2'], ['dump', db], ['compact', db]]) {
        const r = await run(args);
        expect(r.code, args[0]).toBe(3);
        expect(r.stderr, args[0]).toContain('ERR_EMDB_LOCKED');
        expect(r.stderr, args[0]).toContain('lock-holder');
      }
      const who = JSON.parse((await run(['lock-holder', db, '--json'])).stdout.toString());
      expect(who).toMatchObject({ locked: true, pid: holder.pid });
      const br = await run(['break-lock', db]);
      expect(br.code).toBe(3);
      expect(br.stderr).toContain('ERR_EMDB_LOCKED');
    } finally {
      holder.stdin!.write('close\n');
      await new Promise((resolve) => holder.once('exit', resolve));
    }
    expect((await run(['get', db, 'a'])).stdout.toString()).toBe('1');
  });

  it('verify finds a damaged record and prints its offset; the file is not modified', async () => {
    const db = path.join(dir, 'damaged.emdb');
    const d = await Emdb.open(db, { readers: 1 });
    // Plain inserts are one PUT record each: 32-byte header + 7-byte key + 50-byte value.
    for (let i = 0; i < 40; i++) await d.insert(`key${String(i).padStart(4, '0')}`, Buffer.alloc(50, i));
    await d.close();
    const RECORD = 32 + 7 + 50;
    const target = 12288 + RECORD * 17;
    const bytes = fs.readFileSync(db);
    bytes[target + 60] = bytes[target + 60]! ^ 0x5a;
    fs.writeFileSync(db, bytes);
    const r = await run(['verify', db]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('ERR_EMDB_CORRUPTION');
    expect(r.stderr).toContain(`offset ${target}`);
    expect(r.stdout.toString()).toMatch(new RegExp(`DAMAGE\\s+at offset ${target}: record checksum mismatch`));
    const j = await run(['verify', db, '--json']);
    expect(JSON.parse(j.stdout.toString())).toMatchObject({ ok: false, damage: { offset: target } });
    expect(fs.readFileSync(db).equals(bytes)).toBe(true);
    // The engine agrees on where the damage is (the index snapshot is dropped so the open replays).
    fs.rmSync(`${db}.index`, { force: true });
    const err = await Emdb.open(db, { readers: 1 }).then(
      async (x) => (await x.close(), undefined),
      (e: unknown) => e as { code: string; offset?: number },
    );
    expect(err).toMatchObject({ code: ErrorCode.CORRUPTION, offset: target });
  });

  it('verify reports an incomplete tail after the checkpoint as crash residue, exit 0', async () => {
    const db = path.join(dir, 'residue.emdb');
    const d = await Emdb.open(db, { readers: 1 });
    for (let i = 0; i < 10; i++) await d.insert(`key${i}`, 'value');
    await d.close();
    const end = fs.statSync(db).size;
    // Half of a record as a crash mid-append leaves it: the first 40 bytes of the last record.
    const bytes = fs.readFileSync(db);
    fs.appendFileSync(db, bytes.subarray(end - 44, end - 4));
    const r = await run(['verify', db, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.toString())).toMatchObject({ ok: true, end, residue: { offset: end, bytes: 40 } });
  });

  it('verify on a file that is not a database exits 3 with ERR_EMDB_NOT_A_DATABASE', async () => {
    const f = path.join(dir, 'text.txt');
    fs.writeFileSync(f, 'hello world, not a database\n'.repeat(1000));
    const r = await run(['verify', f]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('ERR_EMDB_NOT_A_DATABASE');
  });
});
