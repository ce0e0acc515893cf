import { randomUUID } from 'node:crypto';
import { EmdbError, ErrorCode } from '../errors.js';
import { acquireLock, type LockHandle } from '../lock.js';
import type { ResolvedOptions } from '../options.js';
import type { BufferSet, EmdbHandle } from '../protocol.js';
import type { DbConnection } from './types.js';
import { createControlBlock, SharedView } from '../shm/shared-view.js';
import { ReadPool } from './read-pool.js';
import { WriteBatcher } from './write-batcher.js';
import { WriterClient } from './writer-client.js';

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
    readonly client: WriterClient,
    readonly batcher: WriteBatcher,
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
    };
  }

  static async open(options: ResolvedOptions): Promise<Connection> {
    const lock = options.path === null ? undefined : await acquireLock(options.path);
    let view: SharedView | undefined;
    let client: WriterClient | undefined;
    try {
      const control = createControlBlock();
      const id = randomUUID();
      const channelName = `emdb-js:${id}:buffers`;
      const requestChannel = `emdb-js:${id}:requests`;
      // Subscribe before the writer starts publishing (rule R4).
      view = new SharedView(control, channelName);
      client = await WriterClient.start({
        path: options.path,
        flushPolicy: options.flushPolicy,
        control,
        channelName,
        requestChannel,
        ...(options.rangeScans ? { rangeScans: options.rangeScans } : {}),
      });
      if (!view.sync()) throw new EmdbError(ErrorCode.IO, 'writer published no index');
      const c = client;
      const getBuffers = async (): Promise<BufferSet> => {
        const done = await c.request({ t: 'buffers' });
        if (!done.shared) throw new EmdbError(ErrorCode.IO, 'writer sent no buffer set');
        return done.shared;
      };
      const pool = new ReadPool(view, getBuffers, options.readers);
      return new Connection(options, view, client, new WriteBatcher(client), pool, lock, requestChannel);
    } catch (err) {
      view?.close();
      await client?.terminate();
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
    this.batcher.send();
    let error: unknown;
    try {
      await this.client.request({ t: 'close' });
    } catch (err) {
      // A poisoned writer cannot checkpoint; the close still releases everything.
      if (!(err instanceof EmdbError && err.code === ErrorCode.CLOSED)) error = err;
    }
    await this.pool.close();
    await this.client.terminate();
    this.view.close();
    await this.lock?.release();
    if (error) throw error;
  }
}
