import { BroadcastChannel } from 'node:worker_threads';
import { nodeCrypto } from '../crypto/node-crypto.js';
import { codecFor } from '../encodings.js';
import { EmdbError, ErrorCode } from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import type { AttachedRequest, Done, Envelope } from '../protocol.js';
import { DbState } from '../shm/layout.js';
import { buffersDropped } from '../shm/collect-garbage.js';
import { SharedView } from '../shm/shared-view.js';
import type { EmdbHandle } from '../types.js';
import { InlineReader } from './inline-reader.js';
import type { DbConnection, ValueReader } from './types.js';
import { WriterLink, type LinkTransport } from './writer-link.js';

/**
 * An attached thread's transport to the writer. The first request goes on the
 * database's request channel, naming this client; the writer answers it on a
 * link channel named for this client, and every later request and reply travels
 * on that link. Only two threads hold a link, so a request wakes the writer and
 * nobody else (on the shared request channel every other attached thread would
 * receive, and decode, every request). The link is unref'ed while nothing is
 * pending, so an idle attachment keeps no thread alive.
 */
class ChannelTransport implements LinkTransport {
  private readonly id = nodeCrypto().randomUUID();
  private readonly channel: BroadcastChannel;
  private linked = false;

  constructor(private readonly requestChannel: string) {
    this.channel = new BroadcastChannel(`${requestChannel}:${this.id}`);
  }

  listen(receive: (env: Envelope) => void): void {
    this.channel.onmessage = (event: unknown) => {
      this.linked = true;
      receive((event as { data: Envelope }).data);
    };
    // After onmessage is set (setting it refs the channel): idle until a request is pending.
    this.ref(false);
  }

  send(env: Envelope): void {
    // BroadcastChannel cannot transfer: a write batch's buffer is cloned.
    if (this.linked) {
      this.channel.postMessage(env);
      return;
    }
    // Until the writer has answered once, it has no end of the link to hear us on.
    const door = new BroadcastChannel(this.requestChannel);
    const msg: AttachedRequest = { client: this.id, env };
    door.postMessage(msg);
    door.close();
  }

  ref(on: boolean): void {
    const ch = this.channel as unknown as { ref?: () => void; unref?: () => void };
    if (on) ch.ref?.();
    else ch.unref?.();
  }

  close(): void {
    this.channel.close();
  }
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
    readonly link: WriterLink,
    private readonly transport: ChannelTransport,
    readonly pool: ValueReader,
    private readonly source: EmdbHandle,
  ) {}

  static async attach(handle: EmdbHandle): Promise<AttachedConnection> {
    const view = new SharedView(handle.control, handle.buffersChannel);
    const collectAfterCompaction = handle.collectAfterCompaction ?? true;
    if (collectAfterCompaction) view.onDrop = buffersDropped;
    if (view.state() !== DbState.OPEN && view.state() !== DbState.FAILED) {
      view.close();
      throw new EmdbError(ErrorCode.CLOSED, 'database is closed');
    }
    const transport = new ChannelTransport(handle.requestChannel);
    const link = new WriterLink(transport);
    // The opener closed the database (the writer says so on the link): every call here is refused from now on,
    // and the view's buffers, the whole log, would otherwise stay until this thread calls close() or exits.
    link.onFailure = (err) => {
      if (err.code === ErrorCode.CLOSED) view.close();
    };
    let first: Done;
    try {
      // Subscribed first, then asked: no generation published in between is missed (rule R4).
      // The first request (here `buffers`) opens the link.
      first = await link.call({ t: 'buffers' });
    } catch (err) {
      transport.close();
      view.close();
      throw err;
    }
    if (first.shared) view.offer(first.shared);
    const options: ResolvedOptions = { path: handle.path, readers: 0, flushPolicy: handle.flushPolicy, codec: codecFor(handle.valueEncoding), storedEncoding: handle.valueEncoding, raw: false, defaultTtl: handle.defaultTtl, separator: handle.separator ?? '.', collectAfterCompaction };
    return new AttachedConnection(options, view, link, transport, new InlineReader(view), handle);
  }

  handle(): EmdbHandle {
    this.assertOpen();
    return this.source;
  }

  assertOpen(): void {
    if (this.closed || this.view.state() === DbState.CLOSED || this.link.failure?.code === ErrorCode.CLOSED) {
      throw new EmdbError(ErrorCode.CLOSED, 'database is closed');
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.view.state() !== DbState.CLOSED) await this.link.call({ t: 'detach' }).catch(() => undefined);
    else this.link.batcher.send();
    this.transport.close();
    this.view.close();
  }
}
