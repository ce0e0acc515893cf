/**
 * Runs every phase against ONE store in this process, so peak RSS is the
 * store's own. Spawned by run.ts as
 *   node dist/bench/run-store.js --store lmdb --records N [--quick] [--seed S] [--threads 2,4]
 * Progress goes to stderr; the result is one JSON line on stdout prefixed by
 * RESULT_PREFIX.
 */
import { loadAdapter, parseStores } from './adapters/registry.js';
import { NotApplicable, type FlushPolicyKind, type StoreAdapter, type StoreName } from './adapters/types.js';
import type { PhaseValue, StoreRun } from './results.js';
import { threadedReads } from './threaded-reads.js';
import { errorMessage, intArg, isMain, log, mkTempDir, parseArgs, pipelined, removeDir } from './util.js';
import {
  DEFAULT_SEED, KEY_BYTES, fillRandom, freshEntries, keyAt, loadEntries, localKeys, makeKeys, mulberry32, pick,
  scaleFor, valueFor, type Scale,
} from './workload.js';

export const RESULT_PREFIX = '@@bench-result ';
/** Phases that repeat the individual durable writes under emdb-js's other flush policies. */
const PER_POLICY_WRITES: [string, FlushPolicyKind][] = [
  ['individualWritesGroup', 'group'],
  ['individualWritesWriteThrough', 'writeThrough'],
];
const VERIFY_SAMPLES = 1_000;

class StorePhases {
  readonly phases: Record<string, PhaseValue> = {};
  readonly warnings: string[] = [];
  private readonly keysShared: SharedArrayBuffer;
  private readonly keys: Buffer;

  /** Files copied right after the durable bulk load, while open: the "no checkpoint" image. */
  private crashImage: { dir: string } | { reason: string } = { reason: 'not taken' };

  constructor(
    private readonly a: StoreAdapter,
    private readonly s: Scale,
    private readonly seed: number,
    /** A second, unopened adapter of the same store (for the crash image). */
    private readonly fresh: () => Promise<StoreAdapter>,
  ) {
    this.keysShared = makeKeys(seed, s.records);
    this.keys = localKeys(this.keysShared);
  }

  /** Runs one phase; NotApplicable and errors become N/A cells, never a crash. */
  private async phase(id: string, body: () => Promise<PhaseValue>): Promise<void> {
    log(`  [${this.a.name}] ${id} ...`);
    try {
      this.phases[id] = await body();
      const v = this.phases[id]!;
      log(`  [${this.a.name}] ${id}: ${v.kind === 'ok' ? `${round(v.value)}${v.misses ? ` (${v.misses} misses)` : ''}` : v.kind}`);
    } catch (err) {
      if (err instanceof NotApplicable) {
        this.phases[id] = { kind: 'na', reason: err.reason };
        log(`  [${this.a.name}] ${id}: N/A (${err.reason})`);
      } else {
        this.phases[id] = { kind: 'error', reason: errorMessage(err) };
        log(`  [${this.a.name}] ${id} FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      }
    }
  }

  private key(i: number): Buffer {
    return keyAt(this.keys, i);
  }

  /** A sync read when the store has one, else an async one (used for checks and first reads). */
  private async read(key: Uint8Array, a: StoreAdapter = this.a): Promise<Uint8Array | undefined> {
    try {
      return a.getSync(key);
    } catch (err) {
      if (err instanceof NotApplicable) return a.getAsync(key);
      throw err;
    }
  }

  async run(dir: string): Promise<void> {
    const { a, s } = this;
    await a.open(dir);
    const n = s.records;
    await this.phase('bulkLoad', () => timed(() => a.bulkLoad(loadEntries(this.keys, this.seed, 0, n))));
    await this.verifyLoaded();
    this.phases.rssAfterLoad = { kind: 'ok', value: process.memoryUsage().rss };
    await this.takeCrashImage(dir);

    const writeRng = mulberry32(this.seed + 1);
    const singles = freshEntries(writeRng, s.singleDurable);
    const putEach = (): Promise<PhaseValue> =>
      timed(async () => {
        for (const [k, v] of singles) await a.putDurable(k, v);
      });
    await this.phase('individualWrites', putEach);
    // The other emdb-js flush policies overwrite the same keys (live records unchanged).
    for (const [id, mode] of PER_POLICY_WRITES) {
      await this.phase(id, async () => {
        if (!a.useFlushPolicy) throw new NotApplicable('one durability mode (its value is the onEachFlush row)');
        await a.useFlushPolicy(mode);
        try {
          return await putEach();
        } finally {
          await a.useFlushPolicy('onEachFlush');
        }
      });
    }
    const batches = Array.from({ length: s.batches }, () => freshEntries(writeRng, s.batchSize));
    await this.phase('batchWrites', () =>
      timed(async () => {
        for (const batch of batches) await a.batchDurable(batch);
      }),
    );
    const nosync = freshEntries(writeRng, s.nosync);
    await this.phase('nosyncWrites', () =>
      timed(async () => {
        await pipelined(nosync.length, s.writeWindow, (i) => a.putNoSync(nosync[i]![0], nosync[i]![1]));
        await a.settleWrites();
      }),
    );

    await this.phase('readsSync', () => {
      const next = mulberry32(this.seed + 2);
      // Each store's fastest sync read (lmdb-js getBinaryFast), so "ahead" means ahead of its best.
      const get = a.getSyncFast ? (k: Uint8Array) => a.getSyncFast!(k) : (k: Uint8Array) => a.getSync(k);
      let misses = 0;
      const t0 = performance.now();
      for (let i = 0; i < s.reads; i++) if (get(this.key(pick(next, n))) === undefined) misses++;
      return Promise.resolve(rate(s.reads, performance.now() - t0, misses));
    });
    await this.phase('readsAsync', async () => {
      const next = mulberry32(this.seed + 3);
      let misses = 0;
      const count = (v: Uint8Array | undefined): void => void (v === undefined && misses++);
      const t0 = performance.now();
      await pipelined(s.reads, s.readWindow, () => a.getAsync(this.key(pick(next, n))).then(count));
      return rate(s.reads, performance.now() - t0, misses);
    });
    await this.phase('readsGetMany', async () => {
      const next = mulberry32(this.seed + 4);
      const calls = Math.floor(s.reads / s.getManyBatch);
      let misses = 0;
      const t0 = performance.now();
      for (let c = 0; c < calls; c++) {
        const batch = Array.from({ length: s.getManyBatch }, () => this.key(pick(next, n)));
        for (const v of await a.getMany(batch)) if (v === undefined) misses++;
      }
      return rate(calls * s.getManyBatch, performance.now() - t0, misses);
    });
    for (const t of s.threads) {
      await this.phase(`readsThreads${t}`, async () => {
        const r = await threadedReads(a, this.keysShared, n, t, s.threadedReads, this.seed + 10 + t);
        return rate(r.reads, r.ms, r.misses);
      });
    }
    await this.phase('rangeReads', async () => {
      await a.prepareRangeReads();
      const next = mulberry32(this.seed + 5);
      const start = Buffer.alloc(KEY_BYTES);
      let entries = 0;
      const t0 = performance.now();
      for (let r = 0; r < s.ranges; r++) {
        fillRandom(next, start);
        entries += await a.rangeRead(start, s.rangeLength);
      }
      const ms = performance.now() - t0;
      if (entries < s.ranges * (s.rangeLength / 2)) this.warnings.push(`range reads returned only ${entries} entries`);
      return { kind: 'ok', value: ms, ms, ops: entries };
    });
    await a.close();
    await this.phase('reopenNoCheckpoint', () => this.openCrashImage());
    await this.phase('reopen', async () => {
      const t0 = performance.now();
      await a.reopen();
      const first = await this.read(this.key(1));
      const ms = performance.now() - t0;
      if (first === undefined) this.warnings.push('first read after reopen missed');
      return { kind: 'ok', value: ms, ms };
    });
    const removed = Array.from({ length: Math.floor(n / 2) }, (_, i) => this.key(2 * i));
    await this.phase('removals', () => timed(() => a.removeMany(removed, s.writeWindow)));
    await this.verifyRemoved();
    await this.phase('sizeUncompacted', async () => ({ kind: 'ok', value: (await a.sizeOnDisk()).allocated }));
    await this.phase('compaction', () => timed(() => a.compact()));
    await this.phase('sizeCompacted', async () => {
      if (this.phases.compaction?.kind !== 'ok') throw new NotApplicable(reasonOf(this.phases.compaction));
      return { kind: 'ok', value: (await a.sizeOnDisk()).allocated };
    });
    await a.close();
    this.phases.peakRss = { kind: 'ok', value: process.resourceUsage().maxRSS * 1024 };
  }

  /** Untimed: copies the open store's files right after the durable bulk load. */
  private async takeCrashImage(dir: string): Promise<void> {
    const image = `${dir}-crash-image`;
    try {
      await this.a.copyWhileOpen(image);
      this.crashImage = { dir: image };
    } catch (err) {
      removeDir(image);
      this.crashImage = { reason: `could not copy the open store: ${errorMessage(err)}` };
    }
  }

  /** Opens the crash image with a second adapter (the original is closed): open + first read. */
  private async openCrashImage(): Promise<PhaseValue> {
    const image = this.crashImage;
    if (!('dir' in image)) throw new NotApplicable(image.reason);
    const copy = await this.fresh();
    try {
      const t0 = performance.now();
      await copy.open(image.dir);
      const first = await this.read(this.key(1), copy);
      const ms = performance.now() - t0;
      if (first === undefined) this.warnings.push('first read after reopening the crash image missed');
      return { kind: 'ok', value: ms, ms };
    } finally {
      await copy.close().catch(() => undefined);
      removeDir(image.dir);
      this.crashImage = { reason: 'already opened' };
    }
  }

  /** Not timed: loaded values must read back byte for byte. */
  private async verifyLoaded(): Promise<void> {
    const next = mulberry32(this.seed + 6);
    let bad = 0;
    for (let i = 0; i < VERIFY_SAMPLES; i++) {
      const idx = pick(next, this.s.records);
      const v = await this.read(this.key(idx)).catch(() => undefined);
      if (v === undefined || !Buffer.from(v.buffer, v.byteOffset, v.byteLength).equals(valueFor(this.seed, idx))) bad++;
    }
    if (bad > 0) this.warnings.push(`verification after load: ${bad} of ${VERIFY_SAMPLES} sampled values wrong or missing`);
  }

  private async verifyRemoved(): Promise<void> {
    let present = 0;
    for (let i = 0; i < Math.min(VERIFY_SAMPLES, this.s.records / 2); i++) {
      if ((await this.read(this.key(2 * i)).catch(() => undefined)) !== undefined) present++;
    }
    if (present > 0) this.warnings.push(`verification after removals: ${present} removed keys still readable`);
  }
}

async function timed(body: () => Promise<unknown>): Promise<PhaseValue> {
  const t0 = performance.now();
  await body();
  const ms = performance.now() - t0;
  return { kind: 'ok', value: ms, ms };
}

function rate(ops: number, ms: number, misses: number): PhaseValue {
  return { kind: 'ok', value: (ops / ms) * 1000, ms, ops, misses };
}

function reasonOf(v: PhaseValue | undefined): string {
  return v === undefined ? 'not run' : v.kind === 'ok' ? 'ok' : v.reason;
}

function round(x: number): string {
  return x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(2);
}

export async function runStore(store: StoreName, scale: Scale, seed: number): Promise<StoreRun> {
  const loaded = await loadAdapter(store);
  if (!loaded.ok) return { store, status: 'missing', reason: loaded.reason, phases: {} };
  const dir = mkTempDir(`emdb-bench-${store}-`);
  const fresh = async (): Promise<StoreAdapter> => {
    const again = await loadAdapter(store);
    if (!again.ok) throw new Error(again.reason);
    return again.adapter;
  };
  const phases = new StorePhases(loaded.adapter, scale, seed, fresh);
  try {
    await phases.run(dir);
    const run: StoreRun = { store, status: 'ok', version: loaded.adapter.version, phases: phases.phases };
    if (phases.warnings.length > 0) run.reason = phases.warnings.join('; ');
    return run;
  } catch (err) {
    return { store, status: 'failed', reason: errorMessage(err), version: loaded.adapter.version, phases: phases.phases };
  } finally {
    await loaded.adapter.close().catch(() => undefined);
    removeDir(dir);
    removeDir(`${dir}-crash-image`);
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const [store] = parseStores(args.get('store') ?? '');
  if (store === undefined || args.get('store')?.includes(',')) throw new Error('--store takes exactly one store name');
  const threads = (args.get('threads') ?? '2,4').split(',').map(Number);
  const scale = scaleFor(intArg(args, 'records', 1_000_000), args.has('quick'), threads);
  const result = await runStore(store, scale, intArg(args, 'seed', DEFAULT_SEED));
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`, () => process.exit(0));
}

if (isMain(import.meta.url)) {
  main().catch((err: unknown) => {
    log(`run-store: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  });
}
