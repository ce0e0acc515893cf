/**
 * The CLI stopped from outside: `dump | head` (EPIPE) and Ctrl-C (SIGINT) in the
 * middle of a dump and of a load. Each time the process exits with its stable
 * code, the lock is released, and the database reopens with every record intact
 * (a load keeps a consistent prefix of the dump).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, Emdb, finish, start, tmp } from './cli-helpers.js';

const RECORDS = 60_000;
const dir = tmp();
const db = path.join(dir, 'src.emdb');
const valueOf = (i: number): Buffer => Buffer.alloc(64, i % 251);
const keyOf = (i: number): Buffer => Buffer.from(`key:${String(i).padStart(8, '0')}`);

beforeAll(async () => {
  const d = await Emdb.open(db, { readers: 1 });
  await d.insertMany((function* () {
    for (let i = 0; i < RECORDS; i++) yield [keyOf(i), valueOf(i)] as [Buffer, Buffer];
  })());
  await d.close();
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The database opens (no lock left, no corruption) and every key it holds has its value. */
async function intact(file: string): Promise<number> {
  expect(fs.existsSync(`${file}.lock`)).toBe(false);
  const d = await Emdb.open<Buffer>(file, { readers: 1 });
  try {
    let n = 0;
    for await (const [k, v] of d.iter()) {
      expect(v.equals(valueOf(Number(k.toString().slice(4))))).toBe(true);
      n++;
    }
    expect(await d.len()).toBe(n);
    return n;
  } finally {
    await d.close();
  }
}

function firstData(child: ReturnType<typeof start>): Promise<void> {
  return new Promise((resolve) => child.stdout!.once('data', () => resolve()));
}

describe('emdb-js stopped from outside', () => {
  it('dump | head: EPIPE ends the dump quietly with exit 0 and releases the lock', async () => {
    const { stdout } = await promisify(execFile)('bash', ['-c', `set -o pipefail; "${process.execPath}" "${CLI}" dump "${db}" -q | head -n 2; echo "status \${PIPESTATUS[0]}"`]);
    const lines = stdout.trim().split('\n');
    expect(JSON.parse(lines[0]!)).toMatchObject({ emdbDump: 1 });
    expect(lines[2]).toBe('status 0');
    expect(await intact(db)).toBe(RECORDS);
  });

  it('dump | head: a reader that closes the pipe from this side too', async () => {
    const child = start(['dump', db, '-q']);
    const done = finish(child);
    await firstData(child);
    child.stdout!.destroy();
    const r = await done;
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(await intact(db)).toBe(RECORDS);
  });

  it('SIGINT in the middle of a dump: exit 130, lock released, database intact', async () => {
    const child = start(['dump', db]);
    // Nothing reads stdout yet: the dump fills the pipe and blocks, then the signal comes.
    const deadline = Date.now() + 30_000;
    while (!fs.existsSync(`${db}.lock`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 1000));
    child.kill('SIGINT');
    const r = await finish(child);
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/interrupted/);
    // It stopped part-way: no end marker.
    expect(r.stdout.toString()).not.toContain('"end":true');
    expect(await intact(db)).toBe(RECORDS);
  });

  it('SIGINT in the middle of a load: exit 130, lock released, a consistent prefix loaded', async () => {
    const dumped = await finish(start(['dump', db, '-q']));
    expect(dumped.code).toBe(0);
    const target = path.join(dir, 'loaded.emdb');
    const child = start(['load', target], { keepStdin: true });
    const done = finish(child);
    // Feed half of the dump, leave stdin open (a producer still running), then Ctrl-C.
    const half = dumped.stdout.subarray(0, dumped.stdout.length >> 1);
    await new Promise<void>((resolve) => child.stdin!.write(half, () => resolve()));
    const deadline = Date.now() + 30_000;
    while (!fs.existsSync(`${target}.lock`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 1500));
    child.kill('SIGINT');
    const r = await done;
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/interrupted/);
    const n = await intact(target);
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThan(RECORDS);
  });
});
