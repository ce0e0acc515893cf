/**
 * Shapes of the JSON results and the list of reported phases: label, unit,
 * which direction is better, and the machine limit each one is compared with.
 */
import type { StoreName } from './adapters/types.js';
import type { DurableLatency } from './durable-latency.js';
import { RECORD_PAYLOAD_BYTES, type Scale } from './workload.js';

export type PhaseValue =
  | { kind: 'ok'; value: number; ms?: number; ops?: number; misses?: number }
  | { kind: 'na'; reason: string }
  | { kind: 'error'; reason: string };

export interface StoreRun {
  store: StoreName;
  status: 'ok' | 'missing' | 'failed';
  reason?: string;
  version?: string;
  phases: Record<string, PhaseValue>;
}

export interface MachineLimits {
  /** 174-byte random preads per second from a page-cached file. */
  preadPerSec: number;
  /** 150-byte copies per second out of a SharedArrayBuffer into new Buffers. */
  memcpyPerSec: number;
  /** For information: 200-byte append + fdatasync per second (the file grows: its size is synced too). */
  fdatasyncPerSec: number;
  /** The fdatasync limit of the durable rows: 200-byte write into allocated space + fdatasync per second (no size change). */
  fdatasyncOverwritePerSec: number;
  /** Sequential write bandwidth including a final fsync, bytes per second. */
  seqWriteBytesPerSec: number;
  /** Logical CPUs (os.availableParallelism), for the multi-thread read limit. */
  cpus: number;
  notes: string[];
}

export interface GroupCommitPolicyResult {
  policy: string;
  /** 'together': insert + flush issued in one tick; 'sequential': await insert, then await flush (worker threads); 'async': 'together' from async loops on the opening thread. */
  shape?: 'together' | 'sequential' | 'async';
  ms: number;
  writesPerSec: number;
  /** fdatasyncs of the log during the run (stats().syncs delta). */
  syncs?: number;
  /** Mean wall time of one of those fdatasyncs inside the writer, µs (stats().syncMs / syncs). */
  syncUs?: number;
  /** Mean time a producer waited per write on the insert and on the flush, µs. */
  insertWaitUs?: number;
  flushWaitUs?: number;
  /** CPU time of every thread of the bench process per write, µs. */
  cpuUsPerWrite?: number;
  /** writes/s of every round (writesPerSec is their median; the other fields are the median round's). */
  roundsWritesPerSec?: number[];
  /** Median over rounds of this policy's writes/s over onEachFlush's in the same round and shape. */
  vsOnEachFlush?: number;
  /** Median over rounds of this policy's writes/s over the physical ceiling measured in the same round. */
  vsCeiling?: number;
}

export type GroupCommitResult =
  | {
      kind: 'ok';
      producers: number;
      writesEach: number;
      rounds?: number;
      mode: string;
      policies: GroupCommitPolicyResult[];
      /** group over onEachFlush writes/s, median of the per-round ratios, first shape. */
      speedup: number;
      speedupByShape?: Record<string, number>;
      /**
       * The physical ceiling, measured in the run (once per round, next to the
       * policies): `producers` × 200 B written into allocated space, one
       * fdatasync, repeated: producers writes per group sync, writes/s (median of rounds).
       */
      ceilingWritesPerSec?: number;
      ceilingRoundsWritesPerSec?: number[];
    }
  | { kind: 'na'; reason: string };

export interface BenchRun {
  date: string;
  command: string;
  machine: { cpu: string; cpus: number; totalMemBytes: number; platform: string; release: string; tmpdir: string; loadAvgAtStart: number[] };
  node: string;
  git: string;
  seed: number;
  scale: Scale;
  stores: StoreRun[];
  limits: MachineLimits | { error: string };
  groupCommit: GroupCommitResult;
  /** Latency of the steps of one durable write (durable-latency.ts); absent in older runs. */
  durableLatency?: DurableLatency | { error: string };
}

export type Unit = 'ms' | 'ops/s' | 'bytes';

export interface PhaseDef {
  id: string;
  label: string;
  unit: Unit;
  better: 'lower' | 'higher';
  /** The machine limit for emdb-js in this phase, in the phase's unit, and what it is. */
  limit?: (l: MachineLimits, s: Scale) => { value: number; what: string };
  /**
   * Peers have no such variant (an emdb-js flush policy): their cells show their
   * value from this phase, so the row still compares emdb-js with them.
   */
  peerPhase?: string;
}

const seqWriteMs = (bytes: number, l: MachineLimits): number => (bytes / l.seqWriteBytesPerSec) * 1000;
const syncMs = (n: number, l: MachineLimits): number => (n / (l.fdatasyncOverwritePerSec || l.fdatasyncPerSec)) * 1000;

export function phaseDefs(scale: Scale): PhaseDef[] {
  const defs: PhaseDef[] = [
    {
      id: 'bulkLoad', label: `bulk load (${scale.records.toLocaleString('en-US')})`, unit: 'ms', better: 'lower',
      limit: (l, s) => ({ value: seqWriteMs(s.records * RECORD_PAYLOAD_BYTES, l), what: 'raw key+value bytes at sequential write bandwidth' }),
    },
    { id: 'rssAfterLoad', label: 'RSS after load', unit: 'bytes', better: 'lower' },
    ...(['onEachFlush', 'group', 'writeThrough'] as const).map((policy): PhaseDef => ({
      id: policy === 'onEachFlush' ? 'individualWrites' : `individualWrites${policy[0]!.toUpperCase()}${policy.slice(1)}`,
      label: `individual durable writes (${scale.singleDurable}), emdb-js ${policy}`,
      unit: 'ms',
      better: 'lower',
      limit: (l, s) => ({ value: syncMs(s.singleDurable, l), what: 'one fdatasync per write' }),
      ...(policy === 'onEachFlush' ? {} : { peerPhase: 'individualWrites' }),
    })),
    {
      id: 'batchWrites', label: `batch writes (${scale.batches} × ${scale.batchSize}, durable)`, unit: 'ms', better: 'lower',
      limit: (l, s) => ({
        value: syncMs(s.batches, l) + seqWriteMs(s.batches * s.batchSize * RECORD_PAYLOAD_BYTES, l),
        what: 'one fdatasync per batch + raw bytes at sequential bandwidth',
      }),
    },
    { id: 'nosyncWrites', label: `nosync writes (${scale.nosync.toLocaleString('en-US')})`, unit: 'ms', better: 'lower' },
    {
      id: 'readsSync', label: `random reads, sync, each store's fastest (lmdb-js getBinaryFast) (${scale.reads.toLocaleString('en-US')})`, unit: 'ops/s', better: 'higher',
      limit: (l) => ({ value: l.memcpyPerSec, what: '150-byte copy out of shared memory' }),
    },
    {
      id: 'readsAsync', label: `random reads, async pipelined (${scale.readWindow.toLocaleString('en-US')} in flight)`, unit: 'ops/s', better: 'higher',
      limit: (l) => ({ value: l.preadPerSec, what: '174-byte pread from page cache' }),
    },
    {
      id: 'readsGetMany', label: `random reads, getMany (${scale.getManyBatch.toLocaleString('en-US')} keys/call)`, unit: 'ops/s', better: 'higher',
      limit: (l) => ({ value: l.preadPerSec, what: '174-byte pread from page cache' }),
    },
  ];
  for (const t of scale.threads) {
    defs.push({
      id: `readsThreads${t}`, label: `random reads, ${t} threads (sync path)`, unit: 'ops/s', better: 'higher',
      limit: (l) => ({ value: l.memcpyPerSec * Math.min(t, l.cpus), what: `shared-memory copy × min(${t}, cores)` }),
    });
  }
  defs.push(
    { id: 'rangeReads', label: `range reads (${scale.ranges.toLocaleString('en-US')} × ${scale.rangeLength} keys)`, unit: 'ms', better: 'lower' },
    { id: 'reopenNoCheckpoint', label: 'reopen without checkpoint (files copied after the load, open + first read)', unit: 'ms', better: 'lower' },
    { id: 'reopen', label: 'reopen after close, checkpointed (open + first read)', unit: 'ms', better: 'lower' },
    { id: 'removals', label: `removals (${Math.floor(scale.records / 2).toLocaleString('en-US')}, durable)`, unit: 'ms', better: 'lower' },
    {
      id: 'sizeUncompacted', label: 'size on disk before compaction', unit: 'bytes', better: 'lower',
      limit: (_l, s) => ({ value: rawBytesWritten(s), what: 'raw key+value bytes ever written' }),
    },
    {
      id: 'compaction',
      label: `compaction (${scale.records.toLocaleString('en-US')}-record database after removing ${Math.floor(scale.records / 2).toLocaleString('en-US')})`,
      unit: 'ms',
      better: 'lower',
    },
    {
      id: 'sizeCompacted', label: 'size on disk after compaction', unit: 'bytes', better: 'lower',
      limit: (_l, s) => ({ value: liveRecords(s) * RECORD_PAYLOAD_BYTES, what: 'raw key+value bytes of live records' }),
    },
    { id: 'peakRss', label: 'peak RSS (whole run)', unit: 'bytes', better: 'lower' },
  );
  return defs;
}

/** A store's result for a phase row: a peer's from `peerPhase` on rows of emdb-js variants. */
export function phaseResult(store: StoreRun, def: PhaseDef): PhaseValue | undefined {
  return store.phases[store.store !== 'emdb-js' && def.peerPhase ? def.peerPhase : def.id];
}

export function liveRecords(s: Scale): number {
  return s.records - Math.floor(s.records / 2) + s.singleDurable + s.batches * s.batchSize + s.nosync;
}

export function rawBytesWritten(s: Scale): number {
  return (s.records + s.singleDurable + s.batches * s.batchSize + s.nosync) * RECORD_PAYLOAD_BYTES;
}
