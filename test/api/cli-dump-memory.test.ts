/**
 * A dump streams: the CLI's own memory (JS heap + external buffers) stays under
 * a fixed bound however many records go out, and its RSS grows by no more than
 * that bound above what the open database itself maps. 200,000 records in CI;
 * 1,000,000 (a 176 MB dump) under EMDB_TORTURE=1. The samples are printed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { Emdb, finish, start, tmp } from './cli-helpers.js';

const RECORDS = process.env.EMDB_TORTURE === '1' ? 1_000_000 : 200_000;
/**
 * External buffers are freed in a sawtooth (V8 collects them every ~50-60 MiB), so the
 * bound leaves room for one tooth; a dump held in memory would pass it at 1,000,000
 * records (168 MiB of ndjson). Measured: 35 MiB peak at 200,000, 77 MiB at 1,000,000.
 */
const BOUND_MIB = 112;
const dir = tmp();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

it(`memory stays flat during a ${RECORDS.toLocaleString('en-US')}-record dump`, async () => {
  const file = path.join(dir, 'big.emdb');
  const db = await Emdb.open<Buffer>(file, { readers: 1 });
  await db.insertMany((function* () {
    for (let i = 0; i < RECORDS; i++) {
      const k = Buffer.alloc(16, 0xff);
      k.writeUInt32BE(i, 0);
      yield [k, Buffer.alloc(100, i & 0xff)] as [Buffer, Buffer];
    }
  })());
  await db.close();
  const out = path.join(dir, 'big.ndjson');
  const child = start(['dump', file, '--out', out], { env: { EMDB_CLI_MEMORY: '1', EMDB_CLI_PROGRESS_MS: '250' } });
  const r = await finish(child);
  expect(r.code, r.stderr).toBe(0);
  const samples = [...r.stderr.matchAll(/dump: ([\d,]+)\/[\d,]+ records.*rss (\d+) MiB, heap (\d+) MiB, external (\d+) MiB/g)].map((m) => ({
    records: Number(m[1]!.replaceAll(',', '')),
    rss: Number(m[2]),
    heap: Number(m[3]),
    external: Number(m[4]),
  }));
  console.log(`dump of ${RECORDS.toLocaleString('en-US')} records, ${(fs.statSync(out).size / 2 ** 20).toFixed(0)} MiB of ndjson; memory samples (MiB):`);
  for (const s of samples) console.log(`  ${String(s.records).padStart(9)} records  rss ${s.rss}  heap ${s.heap}  external ${s.external}`);
  expect(samples.length).toBeGreaterThanOrEqual(3);
  const peakJs = Math.max(...samples.map((s) => s.heap + s.external));
  const rssGrowth = Math.max(...samples.map((s) => s.rss)) - samples[0]!.rss;
  console.log(`  peak heap + external ${peakJs} MiB, RSS growth after the first sample ${rssGrowth} MiB (bound ${BOUND_MIB} MiB)`);
  expect(peakJs).toBeLessThan(BOUND_MIB);
  expect(rssGrowth).toBeLessThan(BOUND_MIB);
});
