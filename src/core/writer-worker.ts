import { Worker } from 'node:worker_threads';
import { deserializeError, EmdbError, ErrorCode } from '../errors.js';
import type { Envelope, PortMessage, WriterInit, WriterReply } from '../protocol.js';
import { unpack } from '../protocol-codec.js';
import { eachEnvelope, PortOutbox } from '../port-outbox.js';
import { workerExecArgv } from './worker-argv.js';
import { WriterLink, type LinkTransport } from './writer-link.js';

/**
 * The writer thread's entry: workers/writer-boot.cts, which runs workers/writer.ts
 * bundled into one CommonJS file by the build (rolldown.config.mjs), so each
 * open's new isolate loads one module instead of ~70, with the V8 code cache
 * the build made for it (dist/src/core → dist/workers).
 */
export const WRITER_WORKER_URL = new URL('../../workers/writer-boot.cjs', import.meta.url);

/**
 * The opening thread's transport: the writer worker's own port. Requests of one
 * tick leave in one postMessage (PortOutbox). The worker is ref'ed only while
 * replies are outstanding, so an idle open database does not keep the process alive.
 */
class WorkerPortTransport implements LinkTransport {
  private readonly outbox: PortOutbox;
  private onFail: ((err: EmdbError) => void) | undefined;

  constructor(private readonly worker: Worker) {
    this.outbox = new PortOutbox((msg, transfer) => {
      try {
        worker.postMessage(msg, transfer);
      } catch (err) {
        // Posted from process.nextTick: a throw here would be an uncaught exception.
        // The requests in it are lost, so the link fails and rejects them instead.
        this.onFail?.(new EmdbError(ErrorCode.IO, `could not send to the writer: ${String(err)}`, { cause: err }));
      }
    });
  }

  listen(receive: (env: Envelope) => void, fail: (err: EmdbError) => void): void {
    this.onFail = fail;
    this.worker.on('message', (msg: PortMessage) => eachEnvelope(msg, receive));
    this.worker.on('error', (err) => fail(new EmdbError(ErrorCode.IO, `writer worker crashed: ${err.message}`, { cause: err })));
    this.worker.on('exit', () => fail(new EmdbError(ErrorCode.CLOSED, 'database is closed')));
  }

  send(env: Envelope, transfer: ArrayBuffer[]): void {
    this.outbox.push(env, transfer);
  }

  ref(on: boolean): void {
    if (on) this.worker.ref();
    else this.worker.unref();
  }
}

/** How the opener tells a spawned writer what to open, or that it has nothing to do (its lock was refused). */
export type WriterStart = { init: WriterInit } | { cancel: true };

/**
 * A writer thread started before the opener knows everything it needs (the
 * lock comes first): the thread's start-up (an isolate, the bundle, its
 * packages; ~40 ms here) runs while the opening thread takes the lock, and
 * `start` then hands it the init. Until then the thread waits for that
 * message and holds nothing.
 */
export class SpawnedWriter {
  private readonly worker: Worker;
  private readonly ready: Promise<WriterWorker>;

  constructor() {
    const worker = (this.worker = new Worker(WRITER_WORKER_URL, { execArgv: workerExecArgv() }));
    this.ready = new Promise((resolve, reject) => {
      const onFirst = (first: PortMessage): void => {
        // Nothing is sent to the opener before `ready` (or `openFailed`): it comes alone.
        const msg = unpack<WriterReply>(('batch' in first ? first.batch[0]! : first).m);
        worker.off('message', onFirst);
        worker.off('error', onError);
        worker.off('exit', onExit);
        if (msg.t === 'ready') {
          const started = new WriterWorker(worker, new WriterLink(new WorkerPortTransport(worker)));
          worker.unref();
          resolve(started);
        } else if (msg.t === 'openFailed') {
          reject(deserializeError(msg.error));
        } else {
          reject(new EmdbError(ErrorCode.IO, `unexpected first message from the writer: ${msg.t}`));
        }
      };
      const onError = (err: Error): void => reject(new EmdbError(ErrorCode.IO, `writer worker failed to start: ${err.message}`, { cause: err }));
      // A worker that exits before saying ready (or why not) would leave open() pending forever.
      const onExit = (code: number): void => reject(new EmdbError(ErrorCode.IO, `writer worker exited (code ${code}) before it was ready`));
      worker.on('message', onFirst);
      worker.once('error', onError);
      worker.once('exit', onExit);
    });
    // A failure while the opener still takes the lock is reported by start(), or dropped by cancel().
    this.ready.catch(() => undefined);
  }

  /** Sends the init; resolves once the writer has opened the log (`ready`), rejects with why it could not. */
  start(init: WriterInit): Promise<WriterWorker> {
    this.worker.postMessage({ init } satisfies WriterStart);
    return this.ready;
  }

  /** The open failed before start(): the thread closes its port and ends by itself, and no longer keeps the process alive. */
  cancel(): void {
    this.worker.postMessage({ cancel: true } satisfies WriterStart);
    this.worker.unref();
  }
}

/** The writer worker of a database opened on this thread, and this thread's link to it. */
export class WriterWorker {
  constructor(
    private readonly worker: Worker,
    readonly link: WriterLink,
  ) {}

  /** Stops the worker outright (after close, or when open fails half-way). */
  async terminate(): Promise<void> {
    await this.worker.terminate();
  }
}
