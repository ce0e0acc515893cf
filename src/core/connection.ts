import { nodeCrypto } from '../crypto/node-crypto.js';
import { EmdbError, ErrorCode } from '../errors.js';
import { acquireLock, type LockHandle } from '../lock.js';
import type { ResolvedOptions } from '../options.js';
import type { BufferSet } from '../protocol.js';
import { buffersDropped } from '../shm/collect-garbage.js';
import { createControlBlock, SharedView } from '../shm/shared-view.js';
import type { EmdbHandle } from '../types.js';
import { ReadPool } from './read-pool.js';
import { prefetchSnapshot } from './snapshot-prefetch.js';
import type { DbConnection } from './types.js';
import type { WriterLink } from './writer-link.js';

/** process.emitWarning code of a close whose index snapshot could not be written (README, "Durability"). */
const SNAPSHOT_WARNING = 'EMDB_INDEX_SNAPSHOT_FAILED';
import { SpawnedWriter, type WriterWorker } from './writer-worker.js';

/**
 * Everything one open database owns on the thread that opened it: the lock, the
 * writer worker, the reader pool and this thread's shared view. Emdb and its
 * namespaces are thin validating fronts over it.
 */
export class Connection implements DbConnection {
  closed = false;
  private closing: Promise<void> | undefined;

  private constructor(
    readonly options: ResolvedOptions,
    readonly view: SharedView,
    private readonly writer: WriterWorker,
    readonly link: WriterLink,
    readonly pool: ReadPool,
    private readonly lock: LockHandle | undefined,
    private readonly requestChannel: string,
  ) {}

  handle(): EmdbHandle {
    this.assertOpen();
    return {
      kind: 'emdb-js/handle',
      version: 1,
      path: this.options.path,
      control: this.view.control,
      buffersChannel: this.view.channelName,
      requestChannel: this.requestChannel,
      valueEncoding: this.options.codec.name,
      flushPolicy: this.options.flushPolicy,
      ...(this.options.defaultTtl !== undefined ? { defaultTtl: this.options.defaultTtl } : {}),
      separator: this.options.separator,
      collectAfterCompaction: this.options.collectAfterCompaction,
    };
  }

  static async open(options: ResolvedOptions): Promise<Connection> {
    // The writer thread starts first: its start-up overlaps taking the lock (it waits for its init).
    const spawned = new SpawnedWriter();
    let lock: LockHandle | undefined;
    try {
      lock = options.path === null ? undefined : await acquireLock(options.path);
    } catch (err) {
      spawned.cancel();
      throw err;
    }
    let view: SharedView | undefined;
    let writer: WriterWorker | undefined;
    try {
      // The writer thread is still booting: read the index snapshot's table meanwhile (core/snapshot-prefetch.ts).
      const snapshot = lock ? await prefetchSnapshot(lock.file) : undefined;
      const control = createControlBlock();
      const id = nodeCrypto().randomUUID();
      const channelName = `emdb-js:${id}:buffers`;
      const requestChannel = `emdb-js:${id}:requests`;
      // Subscribe before the writer starts publishing (rule R4).
      view = new SharedView(control, channelName);
      writer = await spawned.start({
        path: lock ? lock.file : options.path,
        flushPolicy: options.flushPolicy,
        control,
        channelName,
        requestChannel,
        ...(options.rangeScans ? { rangeScans: options.rangeScans } : {}),
        ...(lock ? { lockRecord: lock.record } : {}),
        ...(options.storedEncoding ? { valueEncoding: options.storedEncoding } : { anyEncoding: true }),
        recovery: options.recovery,
        ...(options.encryption ? { encryption: options.encryption } : {}),
        ...(options.cacheSize !== undefined ? { cacheSize: options.cacheSize } : {}),
        ...(snapshot ? { snapshot } : {}),
      });
      if (!view.sync()) throw new EmdbError(ErrorCode.IO, 'writer published no index');
      const link = writer.link;
      const getBuffers = async (): Promise<BufferSet> => {
        const done = await link.call({ t: 'buffers' });
        if (!done.shared) throw new EmdbError(ErrorCode.IO, 'writer sent no buffer set');
        return done.shared;
      };
      const pool = new ReadPool(view, getBuffers, options.readers);
      // A compaction's new set, or close(): the old generation is garbage here and on the reader threads (collect-garbage.ts).
      const collect = options.collectAfterCompaction;
      view.onDrop = (bytes) => {
        pool.wakeAfterDrop();
        if (collect) buffersDropped(bytes);
      };
      return new Connection(options, view, writer, link, pool, lock, requestChannel);
    } catch (err) {
      view?.close();
      await writer?.terminate();
      await lock?.release();
      throw err;
    }
  }

  assertOpen(): void {
    if (this.closed) throw new EmdbError(ErrorCode.CLOSED, 'database is closed');
  }

  /** Idempotent: checkpoints through the writer, stops the workers, releases the lock. */
  close(): Promise<void> {
    if (!this.closing) {
      this.closed = true;
      this.closing = this.shutdown();
    }
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    let error: unknown;
    try {
      const done = await this.link.call({ t: 'close' });
      // Not an error of close(): every acknowledged write is durable and the file closed; only the next open is slower.
      if (done.snapshotFailed) {
        process.emitWarning(`emdb-js: ${this.options.path} was closed, but its index snapshot could not be written (${done.snapshotFailed}); the next open rebuilds the index from the log`, { code: SNAPSHOT_WARNING });
      }
    } catch (err) {
      // A poisoned writer cannot checkpoint; the close still releases everything.
      if (!(err instanceof EmdbError && err.code === ErrorCode.CLOSED)) error = err;
    }
    try {
      await this.pool.close();
    } catch (err) {
      error ??= err;
    }
    // Whatever failed above, the writer stops and the lock is released.
    await this.writer.terminate();
    this.view.close();
    await this.lock?.release();
    if (error) throw error;
  }
}
