/**
 * `emdb-js load` on bad input. Found by outside testing: input that is not a
 * dump printed the usage error and then crashed with an unhandled 'error'
 * event (ERR_STREAM_PREMATURE_CLOSE); and a dump cut short lost the entries
 * of the chunk being framed when the input ended, although README says load
 * "refuses a stream without its end marker (cut short) after loading what
 * came before it". Now: exit 1 with one message, and every entry before the
 * cut is in the database.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Emdb, run, tmp } from './cli-helpers.js';

const dir = tmp('emdb-cli-load-bad-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const header = JSON.stringify({ emdbDump: 1, format: 'ndjson', tool: 'test', toolVersion: '0', createdAt: '', namespaces: [], records: 3 });
const entry = (i: number): string => JSON.stringify({ k: Buffer.from(`k${i}`).toString('base64'), v: Buffer.from(`v${i}`).toString('base64') });

describe('emdb-js load on bad input', () => {
  for (const [name, input] of [
    ['not a dump', 'hello\n'],
    ['a header then a line that is not JSON', `${header}\n{not json\n`],
    ['binary garbage read as msgpack', Buffer.from([0xc1, 0xc1, 0xc1, 0xc1])],
  ] as [string, string | Buffer][]) {
    it(`${name}: exit 1 with the usage error, no crash`, async () => {
      const r = await run(['load', path.join(dir, `${name.replace(/\W+/g, '-')}.emdb`)], { input });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('emdb-js:');
      expect(r.stderr).not.toMatch(/Unhandled|ERR_STREAM_PREMATURE_CLOSE|node:events/);
    });
  }

  it('a dump cut short loads every entry before the cut, then exits 1', async () => {
    const target = path.join(dir, 'cut.emdb');
    const r = await run(['load', target], { input: `${header}\n${entry(0)}\n${entry(1)}\n` });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cut short');
    const db = await Emdb.open<Buffer>(target, { readers: 1 });
    try {
      expect(await db.len()).toBe(2);
      expect(db.getSync('k1')?.toString()).toBe('v1');
    } finally {
      await db.close();
    }
  });

  it('a large dump cut in the middle of a chunk loads every entry before the cut', async () => {
    const src = path.join(dir, 'big-src.emdb');
    const db = await Emdb.open<Buffer>(src, { readers: 1 });
    await db.insertMany(Array.from({ length: 60_000 }, (_, i) => [`k${i}`, Buffer.alloc(100, i & 0xff)] as [string, Buffer]));
    await db.close();
    const dump = await run(['dump', src]);
    expect(dump.code).toBe(0);
    const lines = dump.stdout.toString().split('\n');
    // The header and the first 45,001 entries: no end marker.
    const cutText = lines.slice(0, 45_002).join('\n') + '\n';
    const target = path.join(dir, 'big-cut.emdb');
    const r = await run(['load', target], { input: cutText });
    expect(r.code).toBe(1);
    const copy = await Emdb.open<Buffer>(target, { readers: 1 });
    try {
      expect(await copy.len()).toBe(45_001);
    } finally {
      await copy.close();
    }
  });
});
