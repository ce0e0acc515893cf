/**
 * examples/http-fanout: the server answers GET /kv/<key> in every mode (200 with
 * the value, 404 for a missing key), and the load script prints its table for
 * emdb-js and lmdb-js (a short run: the figures themselves are for docs/BENCH.md).
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { Emdb, ROOT, tmp } from './cli-helpers.js';

const dir = tmp();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

it('server.mjs serves GET /kv/:key in main-async, main-sync and workers modes', async () => {
  const file = path.join(dir, 'kv.emdb');
  const db = await Emdb.open(file, { readers: 1 });
  await db.insert('user:1', 'alice');
  await db.insert('a key/with spaces', Buffer.from([0, 1, 2]));
  await db.close();
  for (const mode of ['main-async', 'main-sync', 'workers']) {
    const child = spawn(process.execPath, [path.join(ROOT, 'examples/http-fanout/server.mjs'), '--db', file, '--mode', mode, '--threads', '2'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const line = await new Promise<string>((resolve) => readline.createInterface({ input: child.stdout! }).once('line', resolve));
      const { ports } = JSON.parse(line) as { ports: number[] };
      expect(ports).toHaveLength(mode === 'workers' ? 2 : 1);
      for (const port of ports) {
        const hit = await fetch(`http://127.0.0.1:${port}/kv/user:1`);
        expect(hit.status, mode).toBe(200);
        expect(await hit.text()).toBe('alice');
        const bin = await fetch(`http://127.0.0.1:${port}/kv/${encodeURIComponent('a key/with spaces')}`);
        expect([...new Uint8Array(await bin.arrayBuffer())]).toEqual([0, 1, 2]);
        expect((await fetch(`http://127.0.0.1:${port}/kv/nope`)).status).toBe(404);
      }
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  }
  expect(fs.existsSync(`${file}.lock`)).toBe(false);
});

it('load.mjs prints req/s and p99 for emdb-js and lmdb-js side by side', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [path.join(ROOT, 'examples/http-fanout/load.mjs'), '--records', '1000', '--duration', '1', '--connections', '4', '--modes', 'main-sync,workers', '--json'], { cwd: ROOT });
  const rows = JSON.parse(stdout) as { store: string; mode: string; reqPerSec: number; p99Ms: number; non2xx: number; errors: number }[];
  expect(rows.map((r) => `${r.store} ${r.mode}`)).toEqual(['emdb-js main-sync', 'lmdb-js main-sync', 'emdb-js workers', 'lmdb-js workers']);
  for (const r of rows) {
    expect(r.reqPerSec).toBeGreaterThan(0);
    expect(r.p99Ms).toBeGreaterThanOrEqual(0);
    expect(r.non2xx + r.errors).toBe(0);
  }
});
