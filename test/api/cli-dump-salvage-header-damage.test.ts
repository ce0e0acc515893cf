/**
 * dump --salvage and damage in the header pages (outside report: one bit in a
 * reserved prelude byte, every record intact, and salvage refused with
 * "database header (prelude) fails its checksum", whose hint sends the user
 * to `dump --salvage`). A prelude that fails its checksum is read leniently
 * (refused only when it claims encryption; an unknown value encoding reads as
 * binary) and reported as a damaged range; a header slot that fails its check
 * is reported, not fatal.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Emdb, run, tmp } from './cli-helpers.js';

const dir = tmp();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

let image: Buffer;
let intact: string[];

/** Every entry as "key=value", sorted; `valueEncoding` as the database recorded it. */
async function contents(file: string, valueEncoding: 'utf8' | 'binary'): Promise<string[]> {
  const db = await Emdb.open(file, { readers: 1, valueEncoding });
  try {
    const rows: string[] = [];
    for await (const [k, v] of db.iter()) rows.push(`${k.toString()}=${v.toString()}`);
    return rows.sort();
  } finally {
    await db.close();
  }
}

beforeAll(async () => {
  const file = path.join(dir, 'source.emdb');
  const db = await Emdb.open(file, { readers: 1, valueEncoding: 'utf8' });
  for (let i = 0; i < 100; i++) await db.insert(`k${i}`, `v${i}`);
  await db.close();
  image = fs.readFileSync(file);
  intact = await contents(file, 'utf8');
  expect(intact).toHaveLength(100);
});

interface Summary {
  skipped: { offset: number; bytes: number; reason: string }[];
  warning?: string;
}

async function salvage(name: string, edit: (b: Buffer) => void): Promise<{ code: number | null; stderr: string; summary?: Summary; header?: { valueEncodings: Record<string, string> }; rows?: string[] }> {
  const bytes = Buffer.from(image);
  edit(bytes);
  const file = path.join(dir, `${name}.emdb`);
  fs.writeFileSync(file, bytes);
  const out = `${file}.ndjson`;
  const r = await run(['dump', file, '--salvage', '--out', out, '--json', '-q']);
  if (r.code !== 0) return { code: r.code, stderr: r.stderr };
  const copy = path.join(dir, `${name}-copy.emdb`);
  const l = await run(['load', copy, '--in', out]);
  expect(l.code, l.stderr).toBe(0);
  return {
    code: r.code,
    stderr: r.stderr,
    summary: JSON.parse(r.stdout.toString()) as Summary,
    header: JSON.parse(fs.readFileSync(out, 'utf8').split('\n')[0]!) as { valueEncodings: Record<string, string> },
    rows: await contents(copy, (JSON.parse(fs.readFileSync(out, 'utf8').split('\n')[0]!) as { valueEncodings: Record<string, 'utf8' | 'binary'> }).valueEncodings['']!),
  };
}

describe('dump --salvage: damage in the header pages', () => {
  it('one bit in a reserved prelude byte: every record salvaged, the prelude reported as damaged at offset 0', async () => {
    const r = await salvage('prelude', (b) => void (b[200]! ^= 1));
    expect(r.code, r.stderr).toBe(0);
    expect(r.rows).toEqual(intact);
    expect(r.summary!.skipped).toEqual([{ offset: 0, bytes: 256, reason: expect.stringContaining('database header (prelude) fails its checksum') as string }]);
    expect(r.summary!.skipped[0]!.reason).toContain('value encoding utf8');
    expect(r.header!.valueEncodings).toEqual({ '': 'utf8' });
    // Nothing in the log was skipped: no record-level warning.
    expect(r.summary!.warning).toBeUndefined();
    // Open still refuses it: salvage is the way out, not a loop back to itself.
    await expect(Emdb.open(path.join(dir, 'prelude.emdb'), { readers: 1 })).rejects.toMatchObject({ code: 'ERR_EMDB_CORRUPTION', offset: 0 });
  });

  it('a damaged prelude whose value encoding reads as no known code: values are salvaged as binary', async () => {
    const r = await salvage('encoding', (b) => void (b[136] = 0x41));
    expect(r.code, r.stderr).toBe(0);
    expect(r.header!.valueEncodings).toEqual({ '': 'binary' });
    expect(r.rows).toEqual(intact);
  });

  it('a damaged prelude that claims encryption is refused: its records cannot be read', async () => {
    const r = await salvage('claims-encryption', (b) => void (b[12]! ^= 1));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('claims encryption');
  });

  it('a header slot that fails its checksum is reported, not fatal', async () => {
    const r = await salvage('slot', (b) => void (b[4096 + 20]! ^= 0xff));
    expect(r.code, r.stderr).toBe(0);
    expect(r.rows).toEqual(intact);
    expect(r.summary!.skipped).toEqual([{ offset: 4096, bytes: 64, reason: expect.stringContaining('header slot A fails its checksum') as string }]);
  });

  it('both header slots failing: reported, and every record still salvaged', async () => {
    const r = await salvage('slots', (b) => {
      b[4096 + 20]! ^= 0xff;
      b[8192]! ^= 0xff;
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.rows).toEqual(intact);
    expect(r.summary!.skipped.map((s) => s.offset)).toEqual([4096]);
    expect(r.summary!.skipped[0]!.reason).toContain('both header slots fail');
  });
});
