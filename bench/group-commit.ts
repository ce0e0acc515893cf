/**
 * Group commit: 8 producers each write one record and flush it, 200 times
 * (the emdb-rs group_commit bench shape). Producers are worker threads attached
 * with Emdb.attach(db.handle()). Every flush policy runs in the same process,
 * one after another, each on a fresh database: onEachFlush, group
 * { maxWaitMs: 1, maxBatch: 8 } and writeThrough, in both producer shapes
 * (insert + flush in one tick, and await insert then await flush; see
 * group-commit-worker.ts), and as 8 async loops on the opening thread (shape
 * 'async'). The fdatasyncs each run cost come from stats().syncs. Each round
 * also measures the physical ceiling (8 records per fdatasync into allocated
 * space, no database) and every policy reports its ratio to it.
 * Run alone: node dist/bench/group-commit.js [--quick] [--producers 8] [--writes 200] [--rounds 3]
 *            [--shape together,sequential]
 */
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { BENCH_GROUP_POLICY, loadEmdb, type EmdbLike, type EmdbStatic, type FlushPolicy } from './adapters/emdb-js.js';
import { writeDurably, type ProducerData, type ProducerMessage, type ProducerShape } from './group-commit-worker.js';
import { freshEntries, mulberry32 } from './workload.js';
import type { GroupCommitPolicyResult, GroupCommitResult } from './results.js';
import { errorMessage, intArg, isMain, log, mkTempDir, parseArgs, removeDir, settleable } from './util.js';

const POLICIES: { name: string; policy: FlushPolicy }[] = [
  { name: 'onEachFlush', policy: { kind: 'onEachFlush' } },
  { name: 'group (maxWaitMs 1, maxBatch 8)', policy: BENCH_GROUP_POLICY },
  { name: 'writeThrough', policy: { kind: 'writeThrough' } },
];
const SHAPES: ProducerShape[] = ['together', 'sequential', 'async'];
/** Per producer, untimed, on an in-memory database (every thread compiles its own code). */
const WARMUP_WRITES = 2000;

interface ProducersRun {
  ms: number;
  /** CPU time of the whole process (every thread) during the run. */
  cpuMs: number;
  syncs: number | undefined;
  /** Wall ms the writer spent inside those fdatasyncs. */
  syncMs: number | undefined;
  insertWaitMs: number;
  flushWaitMs: number;
}

/** Producers as worker threads; the wall time runs from the start signal to the last producer done. */
async function producersInWorkers(
  Emdb: EmdbStatic,
  db: EmdbLike,
  producers: number,
  writes: number,
  shape: ProducerShape,
  syncs: SyncCounter,
): Promise<ProducersRun> {
  const handle = db.handle!();
  const start = new SharedArrayBuffer(4);
  const workers: Worker[] = [];
  const scratch = await Emdb.openInMemory!({ readers: 1 });
  const warmupHandle = scratch.handle!();
  try {
    const ready: Promise<void>[] = [];
    const done: Promise<Extract<ProducerMessage, { t: 'done' }>>[] = [];
    for (let p = 0; p < producers; p++) {
      const data: ProducerData = { handle, warmupHandle, producer: p, writes, warmup: WARMUP_WRITES, shape, start };
      const w = new Worker(new URL('./group-commit-worker.js', import.meta.url), { workerData: data });
      workers.push(w);
      const r = settleable<void>();
      const d = settleable<Extract<ProducerMessage, { t: 'done' }>>();
      const fail = (e: Error): void => {
        r.reject(e);
        d.reject(e);
      };
      w.on('message', (m: ProducerMessage) => {
        if (m.t === 'ready') r.resolve();
        else if (m.t === 'done') d.resolve(m);
        else fail(new Error(`producer: ${m.message}`));
      });
      w.on('error', fail);
      w.on('exit', (code) => fail(new Error(`producer exited with code ${code}`)));
      ready.push(r.promise);
      done.push(d.promise);
    }
    await Promise.all(ready);
    await scratch.close();
    return await measured(syncs, () => {
      Atomics.store(new Int32Array(start), 0, 1);
      Atomics.notify(new Int32Array(start), 0);
      return Promise.all(done);
    });
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
    await scratch.close();
  }
}

/**
 * Producers as async loops on the opening thread: the usual shape of a Node
 * server, where concurrent requests each write and flush. Their writes and
 * flushes of one tick travel to the writer in one message (flush marks).
 */
async function producersOnThisThread(
  db: EmdbLike,
  producers: number,
  writes: number,
  syncs: SyncCounter,
): Promise<ProducersRun> {
  const entries = Array.from({ length: producers }, (_, p) => freshEntries(mulberry32(1000 + p), WARMUP_WRITES / 4 + writes));
  // Warm-up on the same database (timed runs only count the syncs after it).
  await Promise.all(entries.map((e) => writeDurably(db, e.slice(0, WARMUP_WRITES / 4), 'async')));
  return measured(syncs, () => Promise.all(entries.map((e) => writeDurably(db, e.slice(WARMUP_WRITES / 4), 'async'))));
}

/** Times `run` (wall and process CPU) and counts the fdatasyncs it cost. */
async function measured(
  syncs: SyncCounter,
  run: () => Promise<{ insertWaitMs: number; flushWaitMs: number }[]>,
): Promise<ProducersRun> {
  const before = await syncs();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const reports = await run();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const after = await syncs();
  const delta = (field: keyof StatsLike): number | undefined => {
    const a = after?.[field];
    const b = before?.[field];
    return a !== undefined && b !== undefined ? a - b : undefined;
  };
  return {
    syncs: delta('syncs'),
    syncMs: delta('syncMs'),
    ms,
    cpuMs: (cpu.user + cpu.system) / 1000,
    insertWaitMs: reports.reduce((a, r) => a + r.insertWaitMs, 0),
    flushWaitMs: reports.reduce((a, r) => a + r.flushWaitMs, 0),
  };
}

interface StatsLike {
  syncs?: number;
  syncMs?: number;
}
type SyncCounter = () => Promise<StatsLike | undefined> | undefined;

async function runPolicy(Emdb: EmdbStatic, name: string, policy: FlushPolicy, shape: ProducerShape, producers: number, writes: number): Promise<GroupCommitPolicyResult> {
  const dir = mkTempDir('emdb-bench-group-');
  const db = await Emdb.open(path.join(dir, 'group.emdb'), { flushPolicy: policy, readers: 1 });
  const stats = (db as unknown as { stats?: () => Promise<StatsLike> }).stats?.bind(db);
  try {
    const syncs: SyncCounter = () => stats?.();
    const run = shape === 'async' ? await producersOnThisThread(db, producers, writes, syncs) : await producersInWorkers(Emdb, db, producers, writes, shape, syncs);
    const total = producers * writes;
    const result: GroupCommitPolicyResult = {
      policy: name,
      shape,
      ms: run.ms,
      writesPerSec: (total / run.ms) * 1000,
      insertWaitUs: (run.insertWaitMs / total) * 1000,
      flushWaitUs: (run.flushWaitMs / total) * 1000,
      cpuUsPerWrite: (run.cpuMs / total) * 1000,
    };
    if (run.syncs !== undefined) result.syncs = run.syncs;
    if (run.syncs && run.syncMs !== undefined) result.syncUs = (run.syncMs / run.syncs) * 1000;
    return result;
  } finally {
    await db.close();
    removeDir(dir);
  }
}

/**
 * The physical ceiling of group commit on this disk now: `producers` 200-byte
 * records written at once into allocated space and one fdatasync, `syncs`
 * times; writes/s if nothing but the shared sync cost time.
 */
function groupCeiling(producers: number, syncs: number): number {
  const dir = mkTempDir('emdb-bench-ceiling-');
  const file = path.join(dir, 'ceiling.bin');
  const group = Buffer.alloc(producers * 200, 0x5a);
  const fd = fs.openSync(file, 'w+');
  try {
    fs.writeSync(fd, Buffer.alloc(syncs * group.length + (1 << 16)), 0, syncs * group.length + (1 << 16), 0);
    fs.fsyncSync(fd);
    const t0 = performance.now();
    for (let i = 0; i < syncs; i++) {
      fs.writeSync(fd, group, 0, group.length, i * group.length);
      fs.fdatasyncSync(fd);
    }
    return ((producers * syncs) / (performance.now() - t0)) * 1000;
  } finally {
    fs.closeSync(fd);
    removeDir(dir);
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * Runs every shape × policy `rounds` times, interleaved (round 1 of every
 * policy, then round 2, ...), so a drift in disk latency during the run (other
 * processes share the disk) hits every policy alike. Each policy reports its
 * median round; the speedup is the median over rounds of group / onEachFlush
 * writes/s measured back to back.
 */
export async function groupCommitBench(producers = 8, writes = 200, shapes: ProducerShape[] = SHAPES, rounds = 3): Promise<GroupCommitResult> {
  let Emdb: EmdbStatic;
  try {
    Emdb = await loadEmdb();
  } catch (err) {
    return { kind: 'na', reason: `emdb-js failed to load: ${errorMessage(err)}` };
  }
  if (typeof Emdb.attach !== 'function') return { kind: 'na', reason: 'Emdb.attach is not in this build' };
  const runs = new Map<string, GroupCommitPolicyResult[]>();
  const key = (shape: ProducerShape, policy: string): string => `${shape}/${policy}`;
  const ceilings: number[] = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      log(`group commit: round ${round}/${rounds}, physical ceiling ...`);
      ceilings.push(groupCeiling(producers, writes));
      for (const shape of shapes) {
        for (const { name, policy } of POLICIES) {
          log(`group commit: round ${round}/${rounds}, ${shape}, ${name} ...`);
          const run = await runPolicy(Emdb, name, policy, shape, producers, writes);
          const list = runs.get(key(shape, name)) ?? [];
          list.push(run);
          runs.set(key(shape, name), list);
        }
      }
    }
  } catch (err) {
    return { kind: 'na', reason: `group commit bench failed: ${errorMessage(err)}` };
  }
  // Per round, back to back: a drift of the disk between rounds cancels out of the ratio.
  const vsOnEachFlush = (shape: ProducerShape, name: string): number => {
    const base = runs.get(key(shape, POLICIES[0]!.name))!;
    return median(runs.get(key(shape, name))!.map((r, i) => r.writesPerSec / base[i]!.writesPerSec));
  };
  const policies: GroupCommitPolicyResult[] = [];
  for (const shape of shapes) {
    for (const { name } of POLICIES) {
      const list = runs.get(key(shape, name))!;
      const rates = list.map((r) => r.writesPerSec);
      const mid = [...list].sort((a, b) => a.writesPerSec - b.writesPerSec)[list.length >> 1]!;
      const vsCeiling = median(list.map((r, i) => r.writesPerSec / ceilings[i]!));
      policies.push({ ...mid, writesPerSec: median(rates), roundsWritesPerSec: rates, vsOnEachFlush: vsOnEachFlush(shape, name), vsCeiling });
    }
  }
  const speedup = (shape: ProducerShape): number => vsOnEachFlush(shape, POLICIES[1]!.name);
  return {
    kind: 'ok',
    producers,
    writesEach: writes,
    rounds,
    mode: `${producers} producers: worker threads attached via Emdb.attach(db.handle()) ('together', 'sequential'), or async loops on the opening thread ('async')`,
    policies,
    speedup: speedup(shapes[0]!),
    speedupByShape: Object.fromEntries(shapes.map((s) => [s, speedup(s)])),
    ceilingWritesPerSec: median(ceilings),
    ceilingRoundsWritesPerSec: ceilings,
  };
}

if (isMain(import.meta.url)) {
  const args = parseArgs(process.argv.slice(2));
  const quick = args.has('quick');
  const shapeArg = args.get('shape');
  const shapes = shapeArg ? (shapeArg.split(',') as ProducerShape[]) : SHAPES;
  if (shapes.some((s) => !SHAPES.includes(s))) throw new Error(`--shape takes ${SHAPES.join(',')}`);
  const result = await groupCommitBench(intArg(args, 'producers', 8), intArg(args, 'writes', quick ? 50 : 200), shapes, intArg(args, 'rounds', quick ? 1 : 3));
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
}
