/** Helpers for the lazy-open and page-cache suites: a closed database and its model, damage, file checks, model checks, environment settings. */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { Emdb } from './common.js';
import { HEADER, walkRecords } from './log-image.js';

export const PAGE = 65536;

export function valueOf(i: number, round: number): Buffer {
  const len = 40 + ((i * 37 + round * 11) % 400);
  const v = Buffer.alloc(len);
  for (let j = 0; j < len; j++) v[j] = (i * 31 + j * 7 + round) & 0xff;
  return v;
}

/** A closed database of `n` keys (some overwritten, some removed) and its model. */
export async function build(file: string, n: number, rangeScans = false, encryption?: { key: Uint8Array }): Promise<Map<string, Buffer>> {
  const model = new Map<string, Buffer>();
  const db = await Emdb.open<Buffer>(file, { ...(rangeScans ? { rangeScans: true } : {}), ...(encryption ? { encryption } : {}) });
  const entries: [string, Buffer][] = [];
  for (let i = 0; i < n; i++) entries.push([`key-${String(i).padStart(6, '0')}`, valueOf(i, 0)]);
  await db.insertMany(entries);
  for (const [k, v] of entries) model.set(k, v);
  for (let i = 0; i < n; i += 7) {
    const k = `key-${String(i).padStart(6, '0')}`;
    await db.insert(k, valueOf(i, 1));
    model.set(k, valueOf(i, 1));
  }
  for (let i = 3; i < n; i += 11) {
    const k = `key-${String(i).padStart(6, '0')}`;
    await db.remove(k);
    model.delete(k);
  }
  await db.close();
  return model;
}

/** The first record at or after `from` that holds the live value of a key in `model`. */
export function liveRecordAfter(buf: Buffer, model: Map<string, Buffer>, from: number): ReturnType<typeof walkRecords>['records'][number] {
  const keyOf = (r: { start: number; keyLen: number }): string => buf.toString('utf8', r.start + HEADER, r.start + HEADER + r.keyLen);
  const records = walkRecords(buf).records;
  const last = new Map<string, number>();
  records.forEach((r, i) => last.set(keyOf(r), i));
  const i = records.findIndex((r, j) => r.start >= from && r.kind === 1 && model.has(keyOf(r)) && last.get(keyOf(r)) === j);
  if (i < 0) throw new Error('no live record found');
  return records[i]!;
}

/** A closed database with one flipped bit in the last value byte of a live record on page 2. */
export async function damagedDatabase(dir: string): Promise<{ file: string; model: Map<string, Buffer>; key: string; at: number }> {
  const file = path.join(dir, 'db.emdb');
  const model = await build(file, 6000);
  const buf = fs.readFileSync(file);
  const rec = liveRecordAfter(buf, model, 2 * PAGE + 64);
  const key = buf.toString('utf8', rec.start + HEADER, rec.start + HEADER + rec.keyLen);
  const at = rec.end - 1;
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, Buffer.from([buf[at]! ^ 0x40]), 0, 1, at);
  fs.closeSync(fd);
  return { file, model, key, at };
}

export function sha(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** Descriptors of this process open on `file` (Linux: /proc/self/fd). */
export function descriptorsOn(file: string): number {
  const real = fs.realpathSync(file);
  let n = 0;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`) === real) n++;
    } catch {
      // closed while listing
    }
  }
  return n;
}

export async function until(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<boolean> {
  const stop = Date.now() + ms;
  while (Date.now() < stop) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
}

/**
 * Every key of `model` reads its value through getSync, and a range scan over
 * the whole database yields exactly the model's keys, in order, with their values.
 */
export async function expectModelThroughRange(db: Emdb<Buffer>, model: Map<string, Buffer>): Promise<void> {
  const keys = [...model.keys()].sort();
  expect(keys.filter((k) => !db.getSync(k)?.equals(model.get(k)!))).toEqual([]);
  const ranged: string[] = [];
  const wrong: string[] = [];
  for await (const [k, v] of db.rangeIter({})) {
    ranged.push(k.toString());
    if (!model.get(k.toString())?.equals(v)) wrong.push(k.toString());
  }
  expect(wrong).toEqual([]);
  expect(ranged).toEqual(keys);
}

/** Sets environment variables for the enclosing describe block (undefined: unset) and restores them after it. */
export function useEnv(vars: Record<string, string | undefined>): void {
  const saved: Record<string, string | undefined> = {};
  beforeAll(() => {
    for (const [name, value] of Object.entries(vars)) {
      saved[name] = process.env[name];
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });
  afterAll(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });
}
