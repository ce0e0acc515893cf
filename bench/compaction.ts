/**
 * Compaction benchmark (docs/BENCH.md, "Compaction while writing"):
 *   1. the disk's sequential write bandwidth (256 MiB in 8 MiB writes + fdatasync);
 *   2. a database of --records live keys (default 1,000,000, 100-byte values)
 *      with --overwrite of them written twice (default 500,000: a third of the
 *      log is dead), flushed;
 *   3. compact({ force: true }) while an insert loop runs on the opening thread
 *      (one awaited insert at a time); every acknowledged insert's wait is
 *      recorded, and those that overlapped the compaction are summarised:
 *      count, p50, p90, p99, p99.9, max (target: p99 <= 50 ms, max <= 250 ms);
 *   4. compaction time, MB/s of the new log written (and of the old log read)
 *      against the bandwidth of 1., peak RSS sampled every 10 ms during it;
 *   5. every insert acknowledged during the run is read back after a reopen.
 *   node dist/bench/compaction.js [--records 1000000] [--overwrite 500000] [--runs 2]
 */
import fs from 'node:fs';
import path from 'node:path';
import { Emdb } from '../src/index.js';
import { intArg, log, mkTempDir, parseArgs, removeDir } from './util.js';

const args = parseArgs(process.argv.slice(2));
const RECORDS = intArg(args, 'records', 1_000_000);
const OVERWRITE = intArg(args, 'overwrite', Math.floor(RECORDS / 2));
const RUNS = intArg(args, 'runs', 2);
const MiB = 1 << 20;

function keyOf(i: number): string {
  return `key:${(i * 2654435761) >>> 0}:${i}`;
}

/** Sequential write bandwidth of the disk holding `dir`, MB/s (1 MB = 10^6 bytes). */
function sequentialWriteMBps(dir: string): number {
  const file = path.join(dir, 'bandwidth.bin');
  const chunk = Buffer.alloc(8 * MiB, 0x5a);
  const total = 256 * MiB;
  const fd = fs.openSync(file, 'w');
  try {
    const t0 = performance.now();
    for (let at = 0; at < total; at += chunk.length) fs.writeSync(fd, chunk, 0, chunk.length, at);
    fs.fdatasyncSync(fd);
    return total / 1e6 / ((performance.now() - t0) / 1000);
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
}

function quantile(sorted: Float64Array, q: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function run(dir: string, round: number, bandwidth: number): Promise<void> {
  const file = path.join(dir, `compaction-${round}.emdb`);
  const value = Buffer.alloc(100, 7);
  let db = await Emdb.open(file, { readers: 1 });
  await db.insertMany((function* () {
    for (let i = 0; i < RECORDS; i++) yield [keyOf(i), value] as [string, Buffer];
  })());
  const second = Buffer.alloc(100, 8);
  await db.insertMany((function* () {
    for (let i = 0; i < OVERWRITE; i++) yield [keyOf(i * 2 % RECORDS), second] as [string, Buffer];
  })());
  await db.flush();
  const before = await db.stats();
  const rssBefore = process.memoryUsage().rss;
  let peakRss = rssBefore;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 10);

  let compacting = false;
  let done = false;
  const during: number[] = [];
  let outside = 0;
  let written = 0;
  const writer = (async () => {
    for (let i = 0; !done; i++) {
      const overlapped = compacting;
      const t0 = performance.now();
      await db.insert(`w:${i}`, value);
      const wait = performance.now() - t0;
      written = i + 1;
      if (overlapped || compacting) during.push(wait);
      else outside = Math.max(outside, wait);
    }
  })();
  await new Promise((r) => setTimeout(r, 200));
  compacting = true;
  const t0 = performance.now();
  const report = await db.compact({ force: true });
  const ms = performance.now() - t0;
  compacting = false;
  await new Promise((r) => setTimeout(r, 200));
  done = true;
  await writer;
  clearInterval(sampler);
  await db.close();

  db = await Emdb.open(file, { readers: 1 });
  let missing = 0;
  for (let i = 0; i < written; i++) if ((await db.get(`w:${i}`)) === undefined) missing++;
  if ((await db.get(keyOf(0))) === undefined) missing++;
  await db.close();

  const sorted = Float64Array.from(during).sort();
  const mbWritten = report.bytesAfter / 1e6;
  const mbRead = before.fileBytes / 1e6;
  log(
    `run ${round}: compaction of ${before.records.toLocaleString('en')} live records (${mbRead.toFixed(0)} MB log, ${(before.deadBytes / 1e6).toFixed(0)} MB dead) ` +
      `-> ${mbWritten.toFixed(0)} MB in ${ms.toFixed(0)} ms (engine ${report.durationMs} ms): ${(mbWritten / (ms / 1000)).toFixed(0)} MB/s written, ` +
      `${(mbRead / (ms / 1000)).toFixed(0)} MB/s of old log, sequential write bandwidth ${bandwidth.toFixed(0)} MB/s ` +
      `(${((mbWritten / (ms / 1000) / bandwidth) * 100).toFixed(0)} %)`,
  );
  log(
    `run ${round}: ${sorted.length} inserts acknowledged during the compaction; wait ms p50 ${quantile(sorted, 0.5).toFixed(2)} ` +
      `p90 ${quantile(sorted, 0.9).toFixed(2)} p99 ${quantile(sorted, 0.99).toFixed(2)} p99.9 ${quantile(sorted, 0.999).toFixed(2)} ` +
      `max ${quantile(sorted, 1).toFixed(2)}; max outside it ${outside.toFixed(2)} ms`,
  );
  log(
    `run ${round}: RSS before compaction ${(rssBefore / MiB).toFixed(0)} MiB, peak during it ${(peakRss / MiB).toFixed(0)} MiB ` +
      `(+${((peakRss - rssBefore) / MiB).toFixed(0)} MiB); after reopen ${missing} of ${written} acknowledged inserts missing`,
  );
}

const dir = mkTempDir('emdb-bench-compaction-');
try {
  const bandwidth = sequentialWriteMBps(dir);
  for (let round = 1; round <= RUNS; round++) {
    await run(dir, round, bandwidth);
    for (const name of fs.readdirSync(dir)) fs.rmSync(path.join(dir, name), { force: true, recursive: true });
  }
} finally {
  removeDir(dir);
}
