import type { Key } from '../keys.js';
import type { ResolvedOptions } from '../options.js';
import type { ScanSource } from '../protocol.js';
import type { SharedView } from '../shm/shared-view.js';
import type { EmdbHandle } from '../types.js';
import type { WriterLink } from './writer-link.js';

/** Where async reads go: the reader pool (opening thread) or this thread (attached). */
export interface ValueReader {
  lookup(namespace: number, key: Key, keyLen: number): Promise<Buffer | undefined>;
  /** getMany's lookups: every key read within one even BATCH_SEQ, so each write batch is seen whole or not at all (rule R6). */
  lookupMany(namespace: number, keys: readonly Key[], keyLens: readonly number[]): Promise<(Buffer | undefined)[]>;
  /** The LSNs of the occupied slots [from, from + count) of a captured table, ascending (shm/scan.ts, listLsns). */
  scanList(source: ScanSource, from: number, count: number): Promise<Float64Array>;
  /** Packed live entries of `namespace` among the records at `lsns` (shm/scan.ts, scanLsns); `lsns` stays the caller's. */
  scan(source: ScanSource, namespace: number, lsns: Float64Array, values: boolean): Promise<ArrayBuffer>;
  close(): Promise<void>;
}

/**
 * What an Emdb front needs from the thread it lives on. The opening thread's
 * Connection owns the database; an AttachedConnection borrows it from another thread.
 */
export interface DbConnection {
  readonly options: ResolvedOptions;
  readonly view: SharedView;
  /** Writes (link.batcher) and every other request (link.call) to the writer. */
  readonly link: WriterLink;
  readonly pool: ValueReader;
  assertOpen(): void;
  close(): Promise<void>;
  handle(): EmdbHandle;
}
