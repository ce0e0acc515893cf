/**
 * TTL benchmark (docs/BENCH.md, "TTL"):
 *   getSync ttl   getSync over N records that all carry a TTL vs N records without (target >= 0.9x)
 *   sweep         N records expire at once (test clock moved); the writer sweeps them in
 *                 batches while a writer loop measures every insert's round trip: the
 *                 largest is how long any write waited behind the sweep (target <= 50 ms)
 *   node dist/bench/ttl.js [--records 200000] [--sweep 1000000]
 */
import path from 'node:path';
import { Emdb, Ttl } from '../src/index.js';
import { setTestClockOffset } from '../src/testing.js';
import { intArg, log, mkTempDir, parseArgs, removeDir } from './util.js';

const args = parseArgs(process.argv.slice(2));
const RECORDS = intArg(args, 'records', 200_000);
const SWEEP = intArg(args, 'sweep', 1_000_000);
const READS = 2_000_000;
const HOUR = 3_600_000;
/** The writer loop runs this long after the records expire; the sweep must finish inside it. */
const WINDOW_MS = intArg(args, 'window', 20_000);

function keyOf(i: number): string {
  return `key:${(i * 2654435761) >>> 0}:${i}`;
}

async function getSyncRate(dir: string, ttl: number | typeof Ttl.Never): Promise<number> {
  const db = await Emdb.open(path.join(dir, `gs-${String(ttl === Ttl.Never ? 'none' : 'ttl')}.emdb`), { readers: 1 });
  try {
    const value = Buffer.alloc(100, 7);
    await db.insertMany((function* () {
      for (let i = 0; i < RECORDS; i++) yield [keyOf(i), value] as [string, Buffer];
    })(), { ttl });
    const keys = Array.from({ length: 10_000 }, (_, i) => keyOf((i * 7919) % RECORDS));
    let found = 0;
    for (let i = 0; i < 200_000; i++) if (db.getSync(keys[i % keys.length]!) !== undefined) found++;
    const started = performance.now();
    for (let i = 0; i < READS; i++) if (db.getSync(keys[i % keys.length]!) !== undefined) found++;
    const rate = READS / ((performance.now() - started) / 1000);
    if (found === 0) throw new Error('nothing found');
    return rate;
  } finally {
    await db.close();
  }
}

async function sweepLatency(dir: string): Promise<{ sweepMs: number; maxWriteMs: number; writes: number; swept: number; maxBatchMs: number }> {
  const db = await Emdb.open(path.join(dir, 'sweep.emdb'), { readers: 1 });
  try {
    const value = Buffer.alloc(32, 1);
    await db.insertMany((function* () {
      for (let i = 0; i < SWEEP; i++) yield [keyOf(i), value] as [string, Buffer];
    })(), { ttl: HOUR });
    await db.flush();
    let done = false;
    let maxWriteMs = 0;
    let writes = 0;
    const writer = (async () => {
      for (let i = 0; !done; i++) {
        const t0 = performance.now();
        await db.insert(`w${i % 1000}`, value);
        maxWriteMs = Math.max(maxWriteMs, performance.now() - t0);
        writes++;
      }
    })();
    const started = performance.now();
    await setTestClockOffset(db, 2 * HOUR);
    // No stats() while the backlog lasts: an exact count walks the passed deadlines (DESIGN.md, "TTL").
    await new Promise((r) => setTimeout(r, WINDOW_MS));
    done = true;
    await writer;
    const windowMs = performance.now() - started;
    const ttl = (await db.stats()).ttl;
    return { sweepMs: windowMs, maxWriteMs, writes, swept: ttl.swept, maxBatchMs: ttl.maxSweepBatchMs };
  } finally {
    await db.close();
  }
}

const dir = mkTempDir('emdb-bench-ttl-');
try {
  const only = args.get('only');
  if (only !== 'sweep') {
    // Alternated, best of three each: the machine's noise is larger than the difference measured.
    let none = 0;
    let ttl = 0;
    for (let round = 0; round < 3; round++) {
      none = Math.max(none, await getSyncRate(dir, Ttl.Never));
      ttl = Math.max(ttl, await getSyncRate(dir, HOUR));
    }
    log(`getSync, ${RECORDS} records, no TTL:   ${Math.round(none).toLocaleString('en')} ops/s (best of 3)`);
    log(`getSync, ${RECORDS} records, all TTL:  ${Math.round(ttl).toLocaleString('en')} ops/s (${(ttl / none).toFixed(2)}x)`);
  }
  if (only !== 'getsync') {
    const s = await sweepLatency(dir);
    log(`sweep: ${s.swept.toLocaleString('en')} of ${SWEEP.toLocaleString('en')} expired records swept within ${Math.round(s.sweepMs)} ms; longest sweep batch ${s.maxBatchMs.toFixed(1)} ms; ${s.writes} concurrent inserts, max insert round trip ${s.maxWriteMs.toFixed(1)} ms`);
  }
} finally {
  removeDir(dir);
}
