/**
 * The cost of rangeScans: true (issue 13). Each phase runs with the sorted
 * index off and on, in alternation (a, b, a, b, ...) so that load on a shared
 * machine hits both alike; the median of the rounds is reported.
 *   - bulk load: insertMany of N records (24-byte keys, 150-byte values) + flush
 *   - single writes: 2,000 awaited inserts of fresh keys
 *   - reopen after a clean close: Emdb.open + first getSync
 *   - range reads: 2,000 × rangeIter(random start, ∞, { limit: 100 }) (on only),
 *     with lmdb's getRange and classic-level's iterator on the same keys when installed
 *     (wall and process CPU time; lmdb's reads run on this thread as emdb-js's do)
 *   - bytes per key of the sorted index (stats().sortedIndex.bytes / records)
 * Usage: node dist/bench/range.js [--records 100000] [--rounds 3]  (JSON on stdout)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Emdb } from '../src/index.js';
import { intArg, mkTempDir, parseArgs, removeDir } from './util.js';
import { DEFAULT_SEED, fillRandom, KEY_BYTES, mulberry32, VALUE_BYTES } from './workload.js';

const args = parseArgs(process.argv.slice(2));
const N = intArg(args, 'records', 100_000);
const ROUNDS = intArg(args, 'rounds', 3);
const RANGES = 2000;
const RANGE_LEN = 100;
const SINGLES = 2000;

function bytes(next: () => number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  fillRandom(next, b);
  return b;
}

const next = mulberry32(DEFAULT_SEED);
const entries: [Buffer, Buffer][] = Array.from({ length: N }, () => [bytes(next, KEY_BYTES), bytes(next, VALUE_BYTES)]);
const starts = Array.from({ length: RANGES }, () => bytes(next, KEY_BYTES));
const fresh = Array.from({ length: SINGLES * ROUNDS * 2 }, () => bytes(next, KEY_BYTES));

/** CPU milliseconds of this process (every thread) since `from`: less disturbed than wall time on a loaded machine. */
function cpuMs(from: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(from);
  return (d.user + d.system) / 1000;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const dir = mkTempDir('emdb-range-bench-');
const results: Record<string, number[]> = {};
const note = (k: string, v: number): void => void (results[k] ??= []).push(v);
let bytesPerKey = 0;
let freshAt = 0;

// Peers, when installed (optional dev dependencies of the comparative bench), loaded once;
// their range reads run right after emdb-js's in every round, so the same load hits all three.
type RangePeer = { name: string; ranges: () => Promise<void>; close: () => Promise<void> };
async function openPeers(): Promise<RangePeer[]> {
  const peers: RangePeer[] = [];
  try {
    const { open } = await import('lmdb');
    const env = open({ path: path.join(dir, 'lmdb'), keyEncoding: 'binary', encoding: 'binary' });
    await env.transaction(() => {
      for (const [k, v] of entries) void env.put(k, v);
    });
    peers.push({
      name: 'lmdb',
      ranges: async () => {
        for (const s of starts) for (const _ of env.getRange({ start: s, limit: RANGE_LEN })) void _;
      },
      close: () => env.close(),
    });
  } catch (err) {
    console.error(`lmdb skipped: ${String(err)}`);
  }
  try {
    const { ClassicLevel } = await import('classic-level');
    const db = new ClassicLevel<Buffer, Buffer>(path.join(dir, 'level'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    for (let i = 0; i < entries.length; i += 10_000) await db.batch(entries.slice(i, i + 10_000).map(([key, value]) => ({ type: 'put' as const, key, value })));
    peers.push({
      name: 'classic-level',
      ranges: async () => {
        for (const s of starts) await db.iterator({ gte: s, limit: RANGE_LEN }).all();
      },
      close: () => db.close(),
    });
  } catch (err) {
    console.error(`classic-level skipped: ${String(err)}`);
  }
  return peers;
}
const peers = await openPeers();

for (let round = 0; round < ROUNDS; round++) {
  for (const on of [false, true]) {
    const tag = on ? 'on' : 'off';
    const file = path.join(dir, `${tag}-${round}.emdb`);
    let db = await Emdb.open<Buffer>(file, { rangeScans: on, readers: 1 });
    let t = performance.now();
    let cpu = process.cpuUsage();
    await db.insertMany(entries);
    await db.flush();
    note(`bulkLoad.${tag}`, performance.now() - t);
    note(`bulkLoad.${tag}.cpu`, cpuMs(cpu));
    if (on) {
      // The writer sorts and merges in its idle time after the load: wait for it, so the next phase does not pay it.
      for (;;) {
        const si = (await db.stats()).sortedIndex!;
        // The tail too: a bulk-loaded tail is sorted in steps, mostly after the flush, and one run plus an unsorted tail is not settled.
        if (si.runs <= 1 && si.entries - N < 2048 && si.tail < 2048) break;
        await new Promise((r) => setTimeout(r, 2));
      }
      note('bulkLoad.on.settled', performance.now() - t);
      note('bulkLoad.on.settled.cpu', cpuMs(cpu));
    }
    t = performance.now();
    cpu = process.cpuUsage();
    for (let i = 0; i < SINGLES; i++) await db.insert(fresh[freshAt++]!, entries[i]![1]);
    note(`singleWrites.${tag}`, performance.now() - t);
    note(`singleWrites.${tag}.cpu`, cpuMs(cpu));
    if (on) {
      const st = await db.stats();
      bytesPerKey = st.sortedIndex ? st.sortedIndex.bytes / st.records : 0;
    }
    await db.close();
    t = performance.now();
    cpu = process.cpuUsage();
    db = await Emdb.open<Buffer>(file, { rangeScans: on, readers: 1 });
    if (db.getSync(entries[0]![0]) === undefined) throw new Error('first read after reopen missed');
    note(`reopen.${tag}`, performance.now() - t);
    note(`reopen.${tag}.cpu`, cpuMs(cpu));
    if (on) {
      t = performance.now();
      cpu = process.cpuUsage();
      let n = 0;
      for (const s of starts) for await (const _ of db.rangeIter(s, null, { limit: RANGE_LEN })) n++;
      note('rangeReads.emdb-js', performance.now() - t);
      note('rangeReads.emdb-js.cpu', cpuMs(cpu));
      if (n < (RANGES * RANGE_LEN) / 2) throw new Error(`range reads returned only ${n} entries`);
      for (const peer of peers) {
        const t1 = performance.now();
        const cpu1 = process.cpuUsage();
        await peer.ranges();
        note(`rangeReads.${peer.name}`, performance.now() - t1);
        note(`rangeReads.${peer.name}.cpu`, cpuMs(cpu1));
      }
    }
    await db.close();
    fs.rmSync(file, { force: true });
    fs.rmSync(`${file}.index`, { force: true });
  }
}

for (const peer of peers) await peer.close();
removeDir(dir);

const out: Record<string, number> = {};
for (const [k, v] of Object.entries(results)) out[k] = Math.round(median(v) * 10) / 10;
console.log(
  JSON.stringify(
    {
      date: new Date().toISOString(),
      machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, load ${os.loadavg().map((x) => x.toFixed(1)).join('/')}`,
      records: N,
      rounds: ROUNDS,
      ms: out,
      ratios: {
        bulkLoadOnVsOff: Math.round((out['bulkLoad.off']! / out['bulkLoad.on']!) * 100) / 100,
        bulkLoadSettledOnVsOff: Math.round((out['bulkLoad.off']! / out['bulkLoad.on.settled']!) * 100) / 100,
        bulkLoadOnVsOffCpu: Math.round((out['bulkLoad.off.cpu']! / out['bulkLoad.on.cpu']!) * 100) / 100,
        reopenOnVsOffCpu: Math.round((out['reopen.on.cpu']! / out['reopen.off.cpu']!) * 100) / 100,
        singleWritesOnVsOff: Math.round((out['singleWrites.off']! / out['singleWrites.on']!) * 100) / 100,
        reopenOnVsOff: Math.round((out['reopen.on']! / out['reopen.off']!) * 100) / 100,
        rangeVsLmdb: out['rangeReads.lmdb'] ? Math.round((out['rangeReads.lmdb'] / out['rangeReads.emdb-js']!) * 100) / 100 : null,
        rangeVsClassicLevel: out['rangeReads.classic-level'] ? Math.round((out['rangeReads.classic-level'] / out['rangeReads.emdb-js']!) * 100) / 100 : null,
        // CPU time of the process (all threads) during each store's range reads: steadier than wall time on a loaded machine.
        rangeVsLmdbCpu: out['rangeReads.lmdb.cpu'] ? Math.round((out['rangeReads.lmdb.cpu'] / out['rangeReads.emdb-js.cpu']!) * 100) / 100 : null,
      },
      sortedIndexBytesPerKey: Math.round(bytesPerKey * 10) / 10,
    },
    null,
    2,
  ),
);
