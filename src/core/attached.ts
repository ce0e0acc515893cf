import { randomUUID } from 'node:crypto';
import { BroadcastChannel } from 'node:worker_threads';
import { codecFor } from '../encodings.js';
import { deserializeError, EmdbError, ErrorCode } from '../errors.js';
import { KeyScratch, type Key } from '../keys.js';
import type { ResolvedOptions } from '../options.js';
import { envelope, unpack, type AttachedRequest, type EmdbHandle, type Envelope, type WriterReply, type WriterRequest } from '../protocol.js';
import { DbState } from '../shm/layout.js';
import { SharedView } from '../shm/shared-view.js';
import type { DbConnection, RequestBody, RequestClient, ValueReader } from './types.js';
import { scanSlots, type ScanSource } from './scan.js';
import { WriteBatcher } from './write-batcher.js';
import { doneOf, type Done } from './writer-client.js';

interface Pending {
  resolve(done: Done): void;
  reject(err: EmdbError): void;
}

/**
 * An attached thread's line to the writer. The first request goes on the
 * database's request channel, naming this client; the writer answers it on a
 * link channel named for this client, and every later request and reply travels
 * on that link. Only two threads hold a link, so a request wakes the writer and
 * nobody else (on the shared request channel every other attached thread would
 * receive, and decode, every request). The link is unref'ed while nothing is
 * pending, so an idle attachment keeps no thread alive.
 */
class ChannelClient implements RequestClient {
  private readonly id = randomUUID();
  private readonly link: BroadcastChannel;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private linked = false;
  failure: EmdbError | undefined;

  private constructor(private readonly requestChannel: string) {
    this.link = new BroadcastChannel(`${requestChannel}:${this.id}`);
    this.link.onmessage = (event: unknown) => this.onReply((event as { data: Envelope }).data);
    this.setRef(false);
  }

  /** Opens the link: the first request (here `buffers`) goes by the request channel. */
  static async connect(requestChannel: string): Promise<{ client: ChannelClient; first: Done }> {
    const client = new ChannelClient(requestChannel);
    try {
      const first = await client.request({ t: 'buffers' });
      return { client, first };
    } catch (err) {
      client.close();
      throw err;
    }
  }

  request(body: RequestBody, payload?: ArrayBuffer): Promise<Done> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const { env } = envelope({ ...body, id } as WriterRequest, payload);
    return new Promise<Done>((resolve, reject) => {
      if (this.pending.size === 0) this.setRef(true);
      this.pending.set(id, { resolve, reject });
      if (this.linked) {
        this.link.postMessage(env);
        return;
      }
      // Until the writer has answered once, it has no end of the link to hear us on.
      const door = new BroadcastChannel(this.requestChannel);
      const msg: AttachedRequest = { client: this.id, env };
      door.postMessage(msg);
      door.close();
    });
  }

  private onReply(env: Envelope): void {
    this.linked = true;
    const msg = unpack<WriterReply>(env.m);
    if (msg.t === 'failed') {
      this.fail(deserializeError(msg.error));
      return;
    }
    if (msg.t !== 'done') return;
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (this.pending.size === 0) this.setRef(false);
    if (msg.error) return p.reject(deserializeError(msg.error));
    p.resolve(doneOf(msg, env));
  }

  fail(err: EmdbError): void {
    this.failure ??= err;
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
    this.setRef(false);
  }

  close(): void {
    this.link.close();
  }

  private setRef(on: boolean): void {
    const ch = this.link as unknown as { ref?: () => void; unref?: () => void };
    if (on) ch.ref?.();
    else ch.unref?.();
  }
}

/**
 * Async reads on an attached thread: it is already a worker thread, so it probes
 * the shared index itself instead of hopping to the reader pool.
 */
class InlineReader implements ValueReader {
  readonly threads = 0;
  private readonly scratch = new KeyScratch();

  constructor(private readonly view: SharedView) {}

  lookup(namespace: number, key: Key, _keyLen: number): Promise<Buffer | undefined> {
    const view = this.view;
    const len = this.scratch.encode(key);
    view.sync();
    view.countReads(1);
    if (!view.locate(namespace, this.scratch.bytes, 0, len)) return Promise.resolve(undefined);
    if (view.expiresAt !== 0 && view.expiresAt <= Date.now()) return Promise.resolve(undefined);
    const out = Buffer.allocUnsafe(view.valueLen);
    out.set(view.valueU8.subarray(view.valueStart, view.valueStart + view.valueLen));
    return Promise.resolve(out);
  }

  scan(source: ScanSource, namespace: number, from: number, count: number, values: boolean): Promise<ArrayBuffer> {
    return Promise.resolve(scanSlots(source, namespace, from, count, values, Date.now()).packed);
  }

  async close(): Promise<void> {}
}

export function isHandle(h: unknown): h is EmdbHandle {
  const x = h as Partial<EmdbHandle> | null;
  return (
    typeof x === 'object' &&
    x !== null &&
    x.kind === 'emdb-js/handle' &&
    x.version === 1 &&
    x.control instanceof SharedArrayBuffer &&
    typeof x.buffersChannel === 'string' &&
    typeof x.requestChannel === 'string'
  );
}

/** A database borrowed by another thread through a handle. Closing it leaves the database open. */
export class AttachedConnection implements DbConnection {
  private closed = false;

  private constructor(
    readonly options: ResolvedOptions,
    readonly view: SharedView,
    readonly client: ChannelClient,
    readonly batcher: WriteBatcher,
    readonly pool: ValueReader,
    private readonly source: EmdbHandle,
  ) {}

  static async attach(handle: EmdbHandle): Promise<AttachedConnection> {
    const view = new SharedView(handle.control, handle.buffersChannel);
    if (view.state() !== DbState.OPEN && view.state() !== DbState.FAILED) {
      view.close();
      throw new EmdbError(ErrorCode.CLOSED, 'database is closed');
    }
    let client: ChannelClient;
    try {
      // Subscribed first, then asked: no generation published in between is missed (rule R4).
      const { client: linked, first } = await ChannelClient.connect(handle.requestChannel);
      client = linked;
      if (first.shared) view.offer(first.shared);
    } catch (err) {
      view.close();
      throw err;
    }
    const options: ResolvedOptions = { path: handle.path, readers: 0, flushPolicy: handle.flushPolicy, codec: codecFor(handle.valueEncoding) };
    return new AttachedConnection(options, view, client, new WriteBatcher(client), new InlineReader(view), handle);
  }

  handle(): EmdbHandle {
    this.assertOpen();
    return this.source;
  }

  assertOpen(): void {
    if (this.closed || this.view.state() === DbState.CLOSED || this.client.failure?.code === ErrorCode.CLOSED) {
      throw new EmdbError(ErrorCode.CLOSED, 'database is closed');
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.batcher.send();
    if (this.view.state() !== DbState.CLOSED) await this.client.request({ t: 'detach' }).catch(() => undefined);
    this.client.close();
    this.view.close();
  }
}
