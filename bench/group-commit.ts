/**
 * Group commit: 8 producers each write one record and flush it, 200 times
 * (the emdb-rs group_commit bench shape). Producers are worker threads attached
 * with Emdb.attach(db.handle()); when this build has no attach, they are 8
 * concurrent async loops on the main thread instead (the report says which).
 * Compares flushPolicy onEachFlush with group { maxWaitMs: 1, maxBatch: 8 }.
 * Run alone: node dist/bench/group-commit.js [--quick] [--producers 8] [--writes 200]
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { loadEmdb, type EmdbLike, type EmdbStatic, type FlushPolicy } from './adapters/emdb-js.js';
import type { ProducerData, ProducerMessage } from './group-commit-worker.js';
import type { GroupCommitPolicyResult, GroupCommitResult } from './results.js';
import { errorMessage, intArg, isMain, log, mkTempDir, parseArgs, removeDir, settleable } from './util.js';
import { freshEntries, mulberry32 } from './workload.js';

const POLICIES: { name: string; policy: FlushPolicy }[] = [
  { name: 'onEachFlush', policy: { kind: 'onEachFlush' } },
  { name: 'group (maxWaitMs 1, maxBatch 8)', policy: { kind: 'group', maxWaitMs: 1, maxBatch: 8 } },
];

/** Producers as worker threads; resolves with the wall time from start signal to last done. */
async function producersInWorkers(db: EmdbLike, producers: number, writes: number): Promise<number> {
  const handle = db.handle!();
  const start = new SharedArrayBuffer(4);
  const workers: Worker[] = [];
  try {
    const ready: Promise<void>[] = [];
    const done: Promise<void>[] = [];
    for (let p = 0; p < producers; p++) {
      const data: ProducerData = { handle, producer: p, writes, start };
      const w = new Worker(new URL('./group-commit-worker.js', import.meta.url), { workerData: data });
      workers.push(w);
      const r = settleable<void>();
      const d = settleable<void>();
      const fail = (e: Error): void => {
        r.reject(e);
        d.reject(e);
      };
      w.on('message', (m: ProducerMessage) => {
        if (m.t === 'ready') r.resolve();
        else if (m.t === 'done') d.resolve();
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
    await Promise.all(done);
    return performance.now() - t0;
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** Fallback: producers as concurrent async loops on this thread. */
async function producersOnMainThread(db: EmdbLike, producers: number, writes: number): Promise<number> {
  const lists = Array.from({ length: producers }, (_, p) => freshEntries(mulberry32(1000 + p), writes));
  const t0 = performance.now();
  await Promise.all(
    lists.map(async (entries) => {
      for (const [k, v] of entries) {
        await db.insert(k, v);
        await db.flush();
      }
    }),
  );
  return performance.now() - t0;
}

async function runPolicy(Emdb: EmdbStatic, policy: FlushPolicy, producers: number, writes: number, useWorkers: boolean): Promise<number> {
  const dir = mkTempDir('emdb-bench-group-');
  const db = await Emdb.open(path.join(dir, 'group.emdb'), { flushPolicy: policy, readers: 1 });
  try {
    return useWorkers ? await producersInWorkers(db, producers, writes) : await producersOnMainThread(db, producers, writes);
  } finally {
    await db.close();
    removeDir(dir);
  }
}

export async function groupCommitBench(producers = 8, writes = 200): Promise<GroupCommitResult> {
  let Emdb: EmdbStatic;
  try {
    Emdb = await loadEmdb();
  } catch (err) {
    return { kind: 'na', reason: `emdb-js failed to load: ${errorMessage(err)}` };
  }
  const probeDir = mkTempDir('emdb-bench-group-probe-');
  let useWorkers = false;
  try {
    const probe = await Emdb.open(path.join(probeDir, 'probe.emdb'), { readers: 1 });
    useWorkers = typeof probe.handle === 'function' && typeof Emdb.attach === 'function';
    await probe.close();
  } finally {
    removeDir(probeDir);
  }
  const mode = useWorkers
    ? `${producers} worker threads attached via Emdb.attach(db.handle())`
    : `${producers} concurrent async loops on the main thread (db.handle()/Emdb.attach not in this build)`;
  const policies: GroupCommitPolicyResult[] = [];
  try {
    for (const { name, policy } of POLICIES) {
      log(`group commit: ${name} ...`);
      const ms = await runPolicy(Emdb, policy, producers, writes, useWorkers);
      policies.push({ policy: name, ms, writesPerSec: ((producers * writes) / ms) * 1000 });
    }
  } catch (err) {
    return { kind: 'na', reason: `group commit bench failed: ${errorMessage(err)}` };
  }
  return { kind: 'ok', producers, writesEach: writes, mode, policies, speedup: policies[0]!.ms / policies[1]!.ms };
}

if (isMain(import.meta.url)) {
  const args = parseArgs(process.argv.slice(2));
  const quick = args.has('quick');
  const result = await groupCommitBench(intArg(args, 'producers', 8), intArg(args, 'writes', quick ? 50 : 200));
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
}
