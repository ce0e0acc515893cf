/**
 * verify judges damage after the tail hint as open does (outside report:
 * verify said "tail residue … the next open drops it" and "result ok", exit 0,
 * for a flipped bit among flushed records that open refused with
 * ERR_EMDB_CORRUPTION because a later durable mark proved them durable).
 * Both now run one scan (src/format/damage-scan.ts); these images go through
 * verify and Emdb.open and the two must agree: damage with open's offset and
 * exit 3, or residue at the offset open cuts, exit 0.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { walkRecords } from '../helpers/log-image.js';
import { Emdb, EmdbError, ErrorCode, run, tmp } from './cli-helpers.js';

const dir = tmp();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const PUT = 1;
let image: Buffer;
let tailHint: number;

/** Flushed writes after the last checkpoint, the file copied while open: what a kill at that moment leaves. */
beforeAll(async () => {
  const file = path.join(dir, 'live.emdb');
  const db = await Emdb.open(file, { readers: 1 });
  await db.insert('seed', 'x');
  await db.checkpoint();
  tailHint = (await db.stats()).fileBytes;
  for (let i = 0; i < 20; i++) {
    await db.insert(`k${i}`, 'v'.repeat(100));
    await db.flush();
  }
  image = fs.readFileSync(file);
  await db.close();
});

async function openResult(file: string): Promise<{ error?: EmdbError; residueAt?: number | null }> {
  try {
    const db = await Emdb.open(file, { readers: 1 });
    const { recovery } = await db.stats();
    await db.close();
    return { residueAt: recovery.residueAt };
  } catch (err) {
    return { error: err as EmdbError };
  }
}

/** The image with one bit flipped inside the value of the `index`-th PUT after the tail hint. */
function flipped(name: string, index: number): { file: string; at: number } {
  const puts = walkRecords(image).records.filter((r) => r.kind === PUT && r.start >= tailHint);
  expect(puts.length).toBe(20);
  const rec = puts.at(index)!;
  const bytes = Buffer.from(image);
  bytes[rec.end - 5]! ^= 0x01;
  const file = path.join(dir, `${name}.emdb`);
  fs.writeFileSync(file, bytes);
  return { file, at: rec.start };
}

describe('verify: damage after the tail hint', () => {
  it('proved durable by a later durable mark: DAMAGE at the offset open reports, exit 3, no "the next open drops it"', async () => {
    const { file, at } = flipped('durable', 10);
    const r = await run(['verify', file]);
    const out = r.stdout.toString();
    expect(r.code, out).toBe(3);
    expect(out).toMatch(new RegExp(`DAMAGE\\s+at offset ${at}: record checksum mismatch; a durable mark written later`));
    expect(out).not.toContain('next open drops it');
    expect(out).not.toContain('tail residue');
    expect(out).toContain('result        CORRUPT');
    expect(r.stderr).toContain('ERR_EMDB_CORRUPTION');
    const j = JSON.parse((await run(['verify', file, '--json'])).stdout.toString()) as { ok: boolean; damage: { offset: number; cutAt: number; droppedRecords: number }; residue?: unknown };
    expect(j.ok).toBe(false);
    expect(j.residue).toBeUndefined();
    expect(j.damage).toMatchObject({ offset: at, cutAt: at, droppedRecords: 9 });

    const opened = await openResult(file);
    expect(opened.error?.code).toBe(ErrorCode.CORRUPTION);
    expect(opened.error?.offset).toBe(at);
  });

  it('in the last record, which no later mark covers: residue at the offset open cuts, exit 0', async () => {
    const { file, at } = flipped('residue', -1);
    const r = await run(['verify', file]);
    const out = r.stdout.toString();
    expect(r.code, out).toBe(0);
    expect(out).toMatch(new RegExp(`tail residue\\s+\\d+ bytes at offset ${at} \\(record checksum mismatch\\); no durable mark proves it durable: the next open drops it`));
    expect(out).toContain('result        ok');

    const opened = await openResult(file);
    expect(opened.error).toBeUndefined();
    expect(opened.residueAt).toBe(at);
  });
});
