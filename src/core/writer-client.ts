import { Worker } from 'node:worker_threads';
import { deserializeError, EmdbError, ErrorCode, type SerializedError } from '../errors.js';
import { envelope, unpack, type BufferSet, type Envelope, type CompactReport, type PortMessage, type StatsSnapshot, type WriterInit, type WriterReply, type WriterRequest } from '../protocol.js';
import { eachEnvelope, PortOutbox } from '../port-outbox.js';
import { workerExecArgv } from './worker-argv.js';
import type { RequestBody, RequestClient } from './types.js';

export interface Done {
  existed?: Uint8Array;
  /** A write batch's buffer, handed back for reuse. */
  payload?: ArrayBuffer;
  count?: number;
  nsId?: number;
  names?: string[];
  dropped?: boolean;
  report?: CompactReport;
  stats?: StatsSnapshot;
  shared?: BufferSet;
  /** Per mark of a write (see WriteBatcher): the sync that failed, if it did. */
  syncErrors?: (EmdbError | undefined)[];
  /** A write refused part-way: the bytes applied, and the error for the rest. */
  appliedBytes?: number;
  writeError?: EmdbError;
}

interface Pending {
  resolve(done: Done): void;
  reject(err: EmdbError): void;
}


/** Resolves the compiled writer worker next to this module (dist/src/core → dist/workers). */
export const WRITER_WORKER_URL = new URL('../../workers/writer.js', import.meta.url);

/**
 * The main (or attached) thread's end of the writer worker: numbered requests,
 * one reply each. The worker is ref'ed only while replies are outstanding, so an
 * idle open database does not keep the process alive.
 */
export class WriterClient implements RequestClient {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private exitError: EmdbError | undefined;
  private readonly outbox: PortOutbox;

  private constructor(private readonly worker: Worker) {
    this.outbox = new PortOutbox((msg, transfer) => worker.postMessage(msg, transfer));
    worker.on('message', (msg: PortMessage) => eachEnvelope(msg, (env) => this.onReply(env)));
    worker.on('error', (err) => this.onExit(new EmdbError(ErrorCode.IO, `writer worker crashed: ${err.message}`, { cause: err })));
    worker.on('exit', () => this.onExit(new EmdbError(ErrorCode.CLOSED, 'database is closed')));
  }

  static start(init: WriterInit): Promise<WriterClient> {
    const worker = new Worker(WRITER_WORKER_URL, { workerData: init, execArgv: workerExecArgv() });
    return new Promise((resolve, reject) => {
      const onFirst = (first: PortMessage): void => {
        // Nothing is sent to the opener before `ready` (or `openFailed`): it comes alone.
        const msg = unpack<WriterReply>(('batch' in first ? first.batch[0]! : first).m);
        worker.off('message', onFirst);
        worker.off('error', onError);
        if (msg.t === 'ready') {
          const client = new WriterClient(worker);
          worker.unref();
          resolve(client);
        } else if (msg.t === 'openFailed') {
          reject(deserializeError(msg.error));
        } else {
          reject(new EmdbError(ErrorCode.IO, `unexpected first message from the writer: ${msg.t}`));
        }
      };
      const onError = (err: Error): void => reject(new EmdbError(ErrorCode.IO, `writer worker failed to start: ${err.message}`, { cause: err }));
      worker.on('message', onFirst);
      worker.once('error', onError);
    });
  }

  request(body: RequestBody, payload?: ArrayBuffer): Promise<Done> {
    if (this.exitError) return Promise.reject(this.exitError);
    const id = this.nextId++;
    const { env, transfer } = envelope({ ...body, id } as WriterRequest, payload);
    return new Promise<Done>((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      this.outbox.push(env, transfer);
    });
  }

  private onReply(env: Envelope): void {
    const msg = unpack<WriterReply>(env.m);
    if (msg.t !== 'done') return;
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (this.pending.size === 0) this.worker.unref();
    if (msg.error) {
      p.reject(deserializeError(msg.error as SerializedError));
      return;
    }
    p.resolve(doneOf(msg, env));
  }

  private onExit(err: EmdbError): void {
    if (this.exitError) return;
    this.exitError = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  /** Stops the worker outright (after close, or when open fails half-way). */
  async terminate(): Promise<void> {
    await this.worker.terminate();
  }
}

/** The result of a successful reply: the packed fields plus the envelope's side-cars. */
export function doneOf(msg: Extract<WriterReply, { t: 'done' }>, env: Envelope): Done {
  const done: Done = {};
  if (msg.existed) done.existed = msg.existed;
  if (msg.stats) done.stats = msg.stats;
  if (msg.count !== undefined) done.count = msg.count;
  if (msg.nsId !== undefined) done.nsId = msg.nsId;
  if (msg.names) done.names = msg.names;
  if (msg.dropped !== undefined) done.dropped = msg.dropped;
  if (msg.report) done.report = msg.report;
  if (env.shared) done.shared = env.shared;
  if (env.payload) done.payload = env.payload;
  if (msg.syncErrors) done.syncErrors = msg.syncErrors.map((e) => (e ? deserializeError(e) : undefined));
  if (msg.appliedBytes !== undefined) {
    done.appliedBytes = msg.appliedBytes;
    if (msg.writeError) done.writeError = deserializeError(msg.writeError);
  }
  return done;
}
