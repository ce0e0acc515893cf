/**
 * Group commit: 8 producers each write one record and flush it, 200 times
 * (the emdb-rs group_commit bench shape). Producers are worker threads attached
 * with Emdb.attach(db.handle()). Every flush policy runs in the same process,
 * one after another, each on a fresh database: onEachFlush, group
 * { maxWaitMs: 1, maxBatch: 8 } and writeThrough, in both producer shapes
 * (insert + flush in one tick, and await insert then await flush; see
 * group-commit-worker.ts). The fdatasyncs each run cost come from stats().syncs.
 * Run alone: node dist/bench/group-commit.js [--quick] [--producers 8] [--writes 200]
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { loadEmdb, type EmdbLike, type EmdbStatic, type FlushPolicy } from './adapters/emdb-js.js';
import type { ProducerData, ProducerMessage, ProducerShape } from './group-commit-worker.js';
import type { GroupCommitPolicyResult, GroupCommitResult } from './results.js';
import { errorMessage, intArg, isMain, log, mkTempDir, parseArgs, removeDir, settleable } from './util.js';

export const GROUP_POLICY: FlushPolicy = { kind: 'group', maxWaitMs: 1, maxBatch: 8 };
const POLICIES: { name: string; policy: FlushPolicy }[] = [
  { name: 'onEachFlush', policy: { kind: 'onEachFlush' } },
  { name: 'group (maxWaitMs 1, maxBatch 8)', policy: GROUP_POLICY },
  { name: 'writeThrough', policy: { kind: 'writeThrough' } },
];
const SHAPES: ProducerShape[] = ['together', 'sequential'];

interface ProducersRun {
  ms: number;
  insertWaitMs: number;
  flushWaitMs: number;
}

/** Producers as worker threads; the wall time runs from the start signal to the last producer done. */
async function producersInWorkers(db: EmdbLike, producers: number, writes: number, shape: ProducerShape): Promise<ProducersRun> {
  const handle = db.handle!();
  const start = new SharedArrayBuffer(4);
  const workers: Worker[] = [];
  try {
    const ready: Promise<void>[] = [];
    const done: Promise<Extract<ProducerMessage, { t: 'done' }>>[] = [];
    for (let p = 0; p < producers; p++) {
      const data: ProducerData = { handle, producer: p, writes, shape, start };
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
    const t0 = performance.now();
    Atomics.store(new Int32Array(start), 0, 1);
    Atomics.notify(new Int32Array(start), 0);
    const reports = await Promise.all(done);
    const ms = performance.now() - t0;
    return {
      ms,
      insertWaitMs: reports.reduce((a, r) => a + r.insertWaitMs, 0),
      flushWaitMs: reports.reduce((a, r) => a + r.flushWaitMs, 0),
    };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

interface StatsLike {
  syncs?: number;
}

async function runPolicy(Emdb: EmdbStatic, name: string, policy: FlushPolicy, shape: ProducerShape, producers: number, writes: number): Promise<GroupCommitPolicyResult> {
  const dir = mkTempDir('emdb-bench-group-');
  const db = await Emdb.open(path.join(dir, 'group.emdb'), { flushPolicy: policy, readers: 1 });
  const stats = (db as unknown as { stats?: () => Promise<StatsLike> }).stats?.bind(db);
  try {
    const before = (await stats?.())?.syncs;
    const run = await producersInWorkers(db, producers, writes, shape);
    const after = (await stats?.())?.syncs;
    const total = producers * writes;
    const result: GroupCommitPolicyResult = {
      policy: name,
      shape,
      ms: run.ms,
      writesPerSec: (total / run.ms) * 1000,
      insertWaitUs: (run.insertWaitMs / total) * 1000,
      flushWaitUs: (run.flushWaitMs / total) * 1000,
    };
    if (before !== undefined && after !== undefined) result.syncs = after - before;
    return result;
  } finally {
    await db.close();
    removeDir(dir);
  }
}

export async function groupCommitBench(producers = 8, writes = 200, shapes: ProducerShape[] = SHAPES): Promise<GroupCommitResult> {
  let Emdb: EmdbStatic;
  try {
    Emdb = await loadEmdb();
  } catch (err) {
    return { kind: 'na', reason: `emdb-js failed to load: ${errorMessage(err)}` };
  }
  if (typeof Emdb.attach !== 'function') return { kind: 'na', reason: 'Emdb.attach is not in this build' };
  const policies: GroupCommitPolicyResult[] = [];
  try {
    for (const shape of shapes) {
      for (const { name, policy } of POLICIES) {
        log(`group commit: ${name}, ${shape} ...`);
        policies.push(await runPolicy(Emdb, name, policy, shape, producers, writes));
      }
    }
  } catch (err) {
    return { kind: 'na', reason: `group commit bench failed: ${errorMessage(err)}` };
  }
  const ratio = (shape: ProducerShape): number | undefined => {
    const of = (kind: string): GroupCommitPolicyResult | undefined => policies.find((p) => p.shape === shape && p.policy.startsWith(kind));
    const base = of('onEachFlush');
    const group = of('group');
    return base && group ? base.ms / group.ms : undefined;
  };
  return {
    kind: 'ok',
    producers,
    writesEach: writes,
    mode: `${producers} worker threads attached via Emdb.attach(db.handle())`,
    policies,
    speedup: ratio(shapes[0]!) ?? Number.NaN,
    speedupByShape: Object.fromEntries(shapes.map((s) => [s, ratio(s) ?? Number.NaN])),
  };
}

if (isMain(import.meta.url)) {
  const args = parseArgs(process.argv.slice(2));
  const quick = args.has('quick');
  const shapeArg = args.get('shape');
  const shapes = shapeArg ? (shapeArg.split(',') as ProducerShape[]) : SHAPES;
  if (shapes.some((s) => !SHAPES.includes(s))) throw new Error(`--shape takes ${SHAPES.join(',')}`);
  const result = await groupCommitBench(intArg(args, 'producers', 8), intArg(args, 'writes', quick ? 50 : 200), shapes);
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
}
