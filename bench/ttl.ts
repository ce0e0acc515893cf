/**
 * TTL benchmark (docs/BENCH.md, "TTL"):
 *   getSync ttl   getSync over N records that all carry a TTL vs N records without (target >= 0.9x)
 *   sweep         N records expire at once (test clock moved); the writer sweeps them in
 *                 batches while one producer inserts in a loop (one insert in flight, each
 *                 awaited) and times every round trip. Printed per run: the sweep's time on
 *                 the writer, the distribution (p50/p99/max) of the round trips made while it
 *                 ran, and the same loop's distribution before the clock moved (no sweep: the
 *                 machine's own noise). Target: max <= 50 ms.
 *   node dist/bench/ttl.js [--records 200000] [--sweep 1000000] [--runs 2] [--only sweep|getsync]
 *                          [--baseline 3000] [--window 20000] [--range-scans] [--memory]
 */
import os from 'node:os';
import path from 'node:path';
import { Emdb, Ttl } from '../src/index.js';
import { setTestClockOffset } from '../src/testing.js';
import { intArg, log, mkTempDir, parseArgs, removeDir } from './util.js';

const args = parseArgs(process.argv.slice(2));
const RECORDS = intArg(args, 'records', 200_000);
const SWEEP = intArg(args, 'sweep', 1_000_000);
const RUNS = intArg(args, 'runs', 2);
const READS = 2_000_000;
const HOUR = 3_600_000;
/** The insert loop runs this long before the clock moves: the latency of the same loop without a sweep. */
const BASELINE_MS = intArg(args, 'baseline', 3000);
/** The loop runs this long after the clock moved; the sweep must finish inside it (stats() after it says when it did). */
const WINDOW_MS = intArg(args, 'window', 20_000);
const RANGE_SCANS = args.has('range-scans');
/** The sweep database in memory: no file writes, so disk stalls on a shared machine are out of the figures. */
const IN_MEMORY = args.has('memory');

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

interface Latencies {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

function distribution(ms: number[]): Latencies {
  const sorted = Float64Array.from(ms).sort();
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { n: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] ?? NaN };
}

function fmt(d: Latencies): string {
  return `n=${d.n.toLocaleString('en')} p50 ${d.p50.toFixed(2)} ms, p99 ${d.p99.toFixed(2)} ms, max ${d.max.toFixed(1)} ms`;
}

interface SweepRun {
  swept: number;
  sweepMs: number;
  maxBatchMs: number;
  baseline: Latencies;
  during: Latencies;
  /** The rest of the window (the last index purge steps run just after the sweep). */
  after: Latencies;
  load: string;
}

async function sweepLatency(dir: string, run: number): Promise<SweepRun> {
  const opts = { readers: 1, ...(RANGE_SCANS ? { rangeScans: true } : {}) };
  const db = IN_MEMORY ? await Emdb.openInMemory(opts) : await Emdb.open(path.join(dir, `sweep-${run}.emdb`), opts);
  try {
    const value = Buffer.alloc(32, 1);
    await db.insertMany((function* () {
      for (let i = 0; i < SWEEP; i++) yield [keyOf(i), value] as [string, Buffer];
    })(), { ttl: HOUR });
    await db.flush();
    // Each write: when it was issued and how long its round trip took.
    const issued: number[] = [];
    const took: number[] = [];
    let stop = false;
    const writer = (async () => {
      for (let i = 0; !stop; i++) {
        const t0 = performance.now();
        await db.insert(`w${i % 1000}`, value);
        issued.push(t0);
        took.push(performance.now() - t0);
      }
    })();
    await new Promise((r) => setTimeout(r, BASELINE_MS));
    const moved = performance.now();
    const load = os.loadavg().map((x) => x.toFixed(1)).join('/');
    await setTestClockOffset(db, 2 * HOUR);
    // No stats() while the backlog lasts: an exact count walks the passed deadlines on the writer (DESIGN.md, "TTL").
    await new Promise((r) => setTimeout(r, WINDOW_MS));
    const ttl = (await db.stats()).ttl;
    stop = true;
    await writer;
    if (ttl.swept < SWEEP || ttl.lastSweepMs === 0) throw new Error(`the sweep did not finish within ${WINDOW_MS} ms (--window)`);
    // Writes issued while the sweep ran (it starts a turn after the clock message, runs lastSweepMs).
    const ended = moved + ttl.lastSweepMs;
    const base: number[] = [];
    const during: number[] = [];
    const after: number[] = [];
    for (let i = 0; i < issued.length; i++) {
      const t = issued[i]!;
      if (t < moved) base.push(took[i]!);
      else if (t <= ended) during.push(took[i]!);
      else after.push(took[i]!);
    }
    return { swept: ttl.swept, sweepMs: ttl.lastSweepMs, maxBatchMs: ttl.maxSweepBatchMs, baseline: distribution(base), during: distribution(during), after: distribution(after), load };
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
    for (let run = 1; run <= RUNS; run++) {
      const s = await sweepLatency(dir, run);
      log(`sweep run ${run}${RANGE_SCANS ? ' (rangeScans)' : ''}${IN_MEMORY ? ' (in memory)' : ''}: ${s.swept.toLocaleString('en')} of ${SWEEP.toLocaleString('en')} expired records swept in ${Math.round(s.sweepMs).toLocaleString('en')} ms; longest sweep batch ${s.maxBatchMs.toFixed(1)} ms; load ${s.load}`);
      log(`  inserts during the sweep: ${fmt(s.during)}`);
      log(`  inserts after it, to the end of the ${WINDOW_MS} ms window: ${fmt(s.after)}`);
      log(`  inserts before it (no sweep, the machine's noise): ${fmt(s.baseline)}`);
    }
  }
} finally {
  removeDir(dir);
}
