/**
 * dump --salvage and a damaged record that removed data (outside report: one
 * bad byte in a dropNamespace record brought the whole dropped namespace back
 * into the dump, and stderr said only "43 bytes skipped (record checksum
 * mismatch)"). Nothing can tell what a damaged record said for sure, but its
 * header may still read: the kind it claims is reported (untrusted), and any
 * skip in the log carries a warning, on stderr, in --json and in the dump
 * header, that data removed or replaced by the skipped records may be back.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { walkRecords } from '../helpers/log-image.js';
import { Emdb, run, tmp } from './cli-helpers.js';

const dir = tmp();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const KIND = { TOMBSTONE: 2, NS_DROP: 6, CLEAR: 7, PREFIX_DELETE: 9 } as const;
let image: Buffer;

beforeAll(async () => {
  const file = path.join(dir, 'source.emdb');
  const db = await Emdb.open(file, { readers: 1 });
  await db.insert('keep', 'v');
  const pii = await db.namespace('user-42-pii');
  for (let i = 0; i < 5; i++) await pii.insert(`field${i}`, `PII-${i}`);
  await db.dropNamespace('user-42-pii');
  const cleared = await db.namespace('cleared');
  await cleared.insert('c1', 'gone');
  await cleared.clear();
  await db.insert('secret-removed', 'x');
  await db.remove('secret-removed');
  await db.insert('session.u1.a', '1');
  await (await db.group('session.u1')).remove();
  await db.close();
  image = fs.readFileSync(file);
});

interface Summary {
  skipped: { offset: number; bytes: number; reason: string; looksLike?: string; namespace?: string }[];
  warning?: string;
}

/** The image with one bit flipped at the end of the only record of `kind`; returns the salvage's summary, stderr and dump header. */
async function salvageWithDamaged(kind: number): Promise<{ at: number; summary: Summary; stderr: string; header: { salvage: { warning?: string } }; dump: string }> {
  const recs = walkRecords(image).records.filter((r) => r.kind === kind);
  expect(recs).toHaveLength(1);
  const bytes = Buffer.from(image);
  bytes[recs[0]!.end - 1]! ^= 0x01;
  const file = path.join(dir, `kind${kind}.emdb`);
  fs.writeFileSync(file, bytes);
  const out = `${file}.ndjson`;
  const r = await run(['dump', file, '--salvage', '--out', out, '--json', '-q']);
  expect(r.code, r.stderr).toBe(0);
  const dump = fs.readFileSync(out, 'utf8');
  // Without --json the skipped list and the warning go to stderr.
  const text = await run(['dump', file, '--salvage', '--out', `${out}.again`, '-q']);
  return { at: recs[0]!.start, summary: JSON.parse(r.stdout.toString()) as Summary, stderr: text.stderr, header: JSON.parse(dump.split('\n')[0]!) as { salvage: { warning?: string } }, dump };
}

const hasKey = (dump: string, key: string): boolean => dump.includes(`"${Buffer.from(key).toString('base64')}"`);

describe('dump --salvage: a damaged record that removed data', () => {
  const cases = [
    { name: 'namespace drop', kind: KIND.NS_DROP, namespace: 'user-42-pii', back: 'field3' },
    { name: 'clear', kind: KIND.CLEAR, namespace: 'cleared', back: 'c1' },
    { name: 'removal', kind: KIND.TOMBSTONE, namespace: undefined, back: 'secret-removed' },
    { name: 'prefix delete', kind: KIND.PREFIX_DELETE, namespace: undefined, back: 'session.u1.a' },
  ];
  for (const c of cases) {
    it(`a damaged ${c.name}: the skip says what it looks like (untrusted) and a warning says removed data may be back`, async () => {
      const { at, summary, stderr, header, dump } = await salvageWithDamaged(c.kind);
      // What the warning is about: the removed data is in the dump.
      expect(hasKey(dump, c.back)).toBe(true);
      expect(summary.skipped).toEqual([{ offset: at, bytes: expect.any(Number) as number, reason: 'record checksum mismatch', looksLike: c.name, ...(c.namespace ? { namespace: c.namespace } : {}) }]);
      expect(stderr).toContain(`offset ${at}:`);
      expect(stderr).toContain(`its header still reads as a ${c.name}`);
      expect(stderr).toContain('untrusted');
      expect(stderr).toMatch(/warning: data that the skipped records removed or replaced may be back in the dump/);
      expect(stderr).toContain(`look like ${c.name}: at offset ${at}`.replace('look like', 'looks like'));
      expect(summary.warning).toMatch(/may be back in the dump/);
      expect(header.salvage.warning).toBe(summary.warning);
    });
  }

  it('an intact file: no warning anywhere', async () => {
    const file = path.join(dir, 'intact.emdb');
    fs.writeFileSync(file, image);
    const r = await run(['dump', file, '--salvage', '--out', `${file}.ndjson`, '--json', '-q']);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout.toString()) as Summary).warning).toBeUndefined();
    expect(r.stderr).not.toContain('warning');
    expect(JSON.parse(fs.readFileSync(`${file}.ndjson`, 'utf8').split('\n')[0]!)).toMatchObject({ salvage: { skippedRanges: 0, skippedBytes: 0 } });
  });
});
