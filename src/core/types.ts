import type { Key } from '../keys.js';
import type { ScanSource } from './scan.js';
import type { ResolvedOptions } from '../options.js';
import type { EmdbHandle, StatsSnapshot, WriterRequest } from '../protocol.js';
import type { SharedView } from '../shm/shared-view.js';
import type { WriteBatcher } from './write-batcher.js';
import type { Done } from './writer-client.js';

export type RequestBody = WriterRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

/** A way to send numbered requests to the writer worker and get one reply each. */
export interface RequestClient {
  request(body: RequestBody, payload?: ArrayBuffer): Promise<Done>;
}

/** Where async reads go: the reader pool (opening thread) or this thread (attached). */
export interface ValueReader {
  readonly threads: number;
  lookup(namespace: number, key: Key, keyLen: number): Promise<Buffer | undefined>;
  /** Packed live entries of `namespace` in slots [from, from + count) of a captured table (core/scan.ts). */
  scan(source: ScanSource, namespace: number, from: number, count: number, values: boolean): Promise<ArrayBuffer>;
  close(): Promise<void>;
}

/**
 * What an Emdb front needs from the thread it lives on. The opening thread's
 * Connection owns the database; an AttachedConnection borrows it from another thread.
 */
export interface DbConnection {
  readonly options: ResolvedOptions;
  readonly view: SharedView;
  readonly client: RequestClient;
  readonly batcher: WriteBatcher;
  readonly pool: ValueReader;
  assertOpen(): void;
  close(): Promise<void>;
  handle(): EmdbHandle;
}

/** db.stats(): the writer's snapshot plus counters kept in shared memory. */
export interface Stats extends StatsSnapshot {
  /** Reader-pool threads of the database (set by the opening thread; also reported by attached threads). */
  readers: number;
  /**
   * Key lookups since open, on every thread: get, getSync, contains and each key
   * of getMany (also inside transactions). Each thread publishes its count in
   * batches (shm/layout.ts, READS), so lookups another thread is making right
   * now may not be counted yet; this thread's own always are.
   */
  reads: number;
}
