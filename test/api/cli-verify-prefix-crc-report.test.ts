/**
 * verify's report on a flipped bit inside the checkpointed region (outside
 * report): it said "DAMAGE at offset X" and, in the same report, "prefix CRC
 * ok", although that CRC covers the damaged byte. The prefix CRC is now hashed
 * over all of [12288, tail hint) even when the walk stops at the damage.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Emdb, run, tmp } from './cli-helpers.js';

const dir = tmp();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('verify: the prefix CRC status of a damaged file', () => {
  it('a flipped bit before the tail hint: damage, and the prefix CRC is reported as a mismatch', async () => {
    const file = path.join(dir, 'flip.emdb');
    const db = await Emdb.open(file, { readers: 1 });
    for (let i = 0; i < 40; i++) await db.insert(`key${String(i).padStart(4, '0')}`, Buffer.alloc(50, i));
    await db.close();
    const RECORD = 32 + 7 + 50;
    const target = 12288 + RECORD * 17;
    const bytes = fs.readFileSync(file);
    bytes[target + 60]! ^= 0x5a;
    fs.writeFileSync(file, bytes);
    const r = await run(['verify', file]);
    expect(r.code).toBe(3);
    const out = r.stdout.toString();
    expect(out).toMatch(new RegExp(`DAMAGE\\s+at offset ${target}`));
    expect(out).not.toContain('prefix CRC ok');
    expect(out).toContain('prefix CRC MISMATCH');
    const j = await run(['verify', file, '--json']);
    expect(JSON.parse(j.stdout.toString())).toMatchObject({ ok: false, prefixCrc: 'mismatch', damage: { offset: target } });
  });

  it('an intact file still reports ok, and a file cut before its tail hint reports the CRC as not checked', async () => {
    const file = path.join(dir, 'cut.emdb');
    const db = await Emdb.open(file, { readers: 1 });
    for (let i = 0; i < 40; i++) await db.insert(`key${i}`, Buffer.alloc(50, i));
    await db.close();
    const ok = await run(['verify', file, '--json']);
    const report = JSON.parse(ok.stdout.toString()) as { ok: boolean; prefixCrc: string; tailHint: number };
    expect(report).toMatchObject({ ok: true, prefixCrc: 'ok' });
    fs.truncateSync(file, report.tailHint - 10);
    const cut = await run(['verify', file, '--json']);
    expect(cut.code).toBe(3);
    expect(JSON.parse(cut.stdout.toString())).toMatchObject({ ok: false, prefixCrc: 'unchecked' });
  });
});
