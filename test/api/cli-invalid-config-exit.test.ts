/**
 * A command argument the library refuses with ERR_EMDB_INVALID_CONFIG (outside
 * report: `backup` onto the database itself, or onto a file that is not an
 * emdb-js database) exited 3, "database error", although README's exit 1 is
 * "usage or bad input". It exits 1 now, with the code still printed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Emdb, run, tmp } from './cli-helpers.js';

const dir = tmp();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('ERR_EMDB_INVALID_CONFIG from a command argument exits 1', () => {
  it('backup onto the database itself, onto a foreign file; verify with a key for a plaintext file', async () => {
    const db = path.join(dir, 'app.emdb');
    const d = await Emdb.open(db, { readers: 1 });
    await d.insert('a', '1');
    await d.close();
    const before = fs.readFileSync(db);
    const foreign = path.join(dir, 'notes.txt');
    fs.writeFileSync(foreign, 'my notes\n');
    for (const dest of [db, foreign]) {
      const r = await run(['backup', db, dest]);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain('ERR_EMDB_INVALID_CONFIG');
      const j = await run(['backup', db, dest, '--json']);
      expect(JSON.parse(j.stderr)).toMatchObject({ error: { exitCode: 1, code: 'ERR_EMDB_INVALID_CONFIG' } });
    }
    expect(fs.readFileSync(foreign, 'utf8')).toBe('my notes\n');
    expect(fs.readFileSync(db).equals(before)).toBe(true);
    const v = await run(['verify', db, '--encryption-key-env', 'EMDB_TEST_KEY'], { env: { EMDB_TEST_KEY: 'ab'.repeat(32) } });
    expect(v.code, v.stderr).toBe(1);
    expect(v.stderr).toContain('ERR_EMDB_INVALID_CONFIG');
  });
});
