/**
 * dump | load kept expiry times only to about a millisecond (outside report:
 * 1796281767190 came back as 1796281767191): load turned the dump's absolute
 * deadline into a TTL against Date.now() and the library added it back to the
 * clock read a moment later. It now writes the dump's deadline as it is.
 * 3,000 keys per format, in the default namespace and a named one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Emdb, run, tmp } from './cli-helpers.js';

const dir = tmp();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

// Each key's chance of meeting a clock tick between the two reads is small: enough keys that the old load fails every time.
const KEYS = 3000;

async function deadlines(file: string): Promise<Map<string, number | undefined>> {
  const db = await Emdb.open<Buffer>(file, { readers: 1 });
  try {
    const out = new Map<string, number | undefined>();
    for (const ns of [undefined, 'n']) {
      const space = ns === undefined ? db : await db.namespace<Buffer>(ns);
      for await (const [k] of space.iter()) out.set(`${ns ?? ''}/${k.toString()}`, await space.expiresAt(k));
    }
    return out;
  } finally {
    await db.close();
  }
}

describe('dump | load keeps every deadline to the millisecond', () => {
  for (const format of ['ndjson', 'msgpack']) {
    it(`${format}: ${KEYS} TTL keys come back with exactly the dumped deadline`, async () => {
      const src = path.join(dir, `src-${format}.emdb`);
      const db = await Emdb.open<Buffer>(src, { readers: 1 });
      const ns = await db.namespace<Buffer>('n');
      // Odd TTLs spread the deadlines over many milliseconds.
      await Promise.all(Array.from({ length: KEYS }, (_, i) => (i % 2 ? ns : db).insertWithTtl(`k${i}`, Buffer.from(`v${i}`), 3_600_000 + i * 7 + (i % 13))));
      await db.insert('forever', Buffer.from('no ttl'));
      await db.close();
      const dumpFile = path.join(dir, `dump.${format}`);
      const d = await run(['dump', src, '--format', format, '--out', dumpFile]);
      expect(d.code, d.stderr).toBe(0);
      const dst = path.join(dir, `dst-${format}.emdb`);
      const l = await run(['load', dst, '--in', dumpFile]);
      expect(l.code, l.stderr).toBe(0);
      const want = await deadlines(src);
      expect(want.size).toBe(KEYS + 1);
      expect([...want.values()].filter((x) => x !== undefined)).toHaveLength(KEYS);
      expect(await deadlines(dst)).toEqual(want);
    });
  }

  it('a dump entry whose expiry is not a whole number of milliseconds is refused as bad input', async () => {
    const lines = [
      JSON.stringify({ emdbDump: 1, format: 'ndjson', namespaces: [], records: 1 }),
      JSON.stringify({ k: Buffer.from('a').toString('base64'), v: 'AA==', x: Date.now() + 60_000.5 }),
      JSON.stringify({ end: true, records: 1 }),
    ];
    const r = await run(['load', path.join(dir, 'frac.emdb')], { input: `${lines.join('\n')}\n` });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('x is not a whole number');
  });
});
