/**
 * dump --salvage on a file cut short of its checkpointed tail (outside report:
 * a file cut back to its header exited 0 with "nothing skipped" and
 * "skippedRanges":0, while open says "log is shorter than its checkpointed
 * tail"). The missing bytes [file end, tail hint) are reported as skipped,
 * from the tail hint of the header slot open would use.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Emdb, run, tmp } from './cli-helpers.js';

const dir = tmp();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

let image: Buffer;

beforeAll(async () => {
  const file = path.join(dir, 'source.emdb');
  const db = await Emdb.open(file, { readers: 1 });
  for (let i = 0; i < 100; i++) await db.insert(`k${i}`, `v${i}`);
  await db.close();
  image = fs.readFileSync(file);
});

describe('dump --salvage: a file shorter than its checkpointed tail', () => {
  it('cut back to its header: the missing bytes are reported, with a warning, in --json and in the dump header', async () => {
    const file = path.join(dir, 'cut.emdb');
    fs.writeFileSync(file, image.subarray(0, 12288));
    const out = `${file}.ndjson`;
    const r = await run(['dump', file, '--salvage', '--out', out, '--json', '-q']);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout.toString()) as { skipped: { offset: number; bytes: number; reason: string }[]; warning?: string };
    expect(summary.skipped).toEqual([{ offset: 12288, bytes: image.length - 12288, reason: expect.stringMatching(/^missing: the file ends at 12288, before its checkpointed tail \(\d+\)/) as string }]);
    expect(summary.warning).toMatch(/may be back in the dump/);
    const text = await run(['dump', file, '--salvage', '--out', `${out}.again`, '-q']);
    expect(text.stderr).not.toContain('nothing skipped');
    expect(text.stderr).toContain('warning: data that the skipped records removed or replaced may be back');
    expect(text.stderr).toContain(`offset 12288: ${(image.length - 12288).toLocaleString('en-US')} bytes skipped (missing`);
    expect(JSON.parse(fs.readFileSync(out, 'utf8').split('\n')[0]!)).toMatchObject({ salvage: { skippedRanges: 1, skippedBytes: image.length - 12288 } });
    await expect(Emdb.open(file, { readers: 1 })).rejects.toMatchObject({ code: 'ERR_EMDB_CORRUPTION', offset: 12288 });
  });
});
