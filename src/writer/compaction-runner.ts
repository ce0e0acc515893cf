import type { CompactReport } from '../types.js';
import { CompactionJob } from './compaction-job.js';
import type { WriterEngine } from './engine.js';

/**
 * Longest compaction step, ms: a write that arrives while one runs waits at
 * most this long (plus the swap, once). Steps run one per event-loop turn, so
 * the requests that came in meanwhile are served between two steps.
 */
export const COMPACTION_STEP_MS = 5;

type Done = (report: CompactReport | undefined, error?: unknown) => void;

/**
 * Runs the compaction of the writer thread (workers/writer.ts): one job at a
 * time, stepped between requests, swapped in by a synchronous last step. A
 * compact request that arrives while one runs joins it and gets its report.
 */
export class CompactionRunner {
  private job: CompactionJob | undefined;
  private waiters: Done[] = [];

  constructor(
    private readonly engine: WriterEngine,
    /** Around the swap: settle pending group flushes first, re-bind the file's identity and re-arm the sweep after. */
    private readonly hooks: { beforeSwap: () => void; afterSwap: () => void },
    private readonly defer: (fn: () => void) => void = setImmediate,
  ) {}

  get running(): boolean {
    return this.job !== undefined;
  }

  start(force: boolean, done: Done): void {
    if (this.job) {
      this.waiters.push(done);
      return;
    }
    const begun = this.engine.beginCompaction(force);
    if (!(begun instanceof CompactionJob)) {
      done(begun);
      return;
    }
    this.job = begun;
    this.waiters = [done];
    this.defer(() => this.tick(begun));
  }

  /** Finishes the running compaction now (close, an encryption change): an accepted compaction is not dropped. */
  drain(): void {
    const job = this.job;
    if (job) this.swap(job);
  }

  private tick(job: CompactionJob): void {
    if (this.job !== job) return; // drained meanwhile
    let result;
    try {
      const failed = this.engine.failed;
      if (failed) throw failed;
      result = job.step(performance.now() + COMPACTION_STEP_MS);
    } catch (err) {
      this.engine.abortCompaction(job);
      this.settle(undefined, err);
      return;
    }
    if (result === 'more') this.defer(() => this.tick(job));
    else if (result === 'wait') void job.waitForSync().then(() => this.defer(() => this.tick(job)));
    else this.swap(job);
  }

  private swap(job: CompactionJob): void {
    let report: CompactReport;
    try {
      this.hooks.beforeSwap();
      report = this.engine.finishCompaction(job);
    } catch (err) {
      this.settle(undefined, err);
      return;
    }
    try {
      this.hooks.afterSwap();
    } catch (err) {
      this.settle(undefined, err);
      return;
    }
    this.settle(report);
  }

  private settle(report: CompactReport | undefined, error?: unknown): void {
    const waiters = this.waiters;
    this.job = undefined;
    this.waiters = [];
    for (const done of waiters) done(report, error);
  }
}
