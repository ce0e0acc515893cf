/**
 * The writer worker: sole owner of the log file descriptor. It receives framed
 * record batches from producer threads, appends them, updates the shared index,
 * and answers flush/checkpoint requests under the configured flush policy.
 *
 * Requests arrive from the opening thread on the worker's own port, and from
 * attached threads (Emdb.attach) on a per-database BroadcastChannel; each
 * attached thread gets its replies on a channel of its own, so replies are not
 * broadcast to every thread.
 */
import { BroadcastChannel, parentPort, workerData } from 'node:worker_threads';
import { EmdbError, ErrorCode, serializeError } from '../src/errors.js';
import { nodeFileIO } from '../src/log/file-io.js';
import {
  envelope,
  unpack,
  type AttachedRequest,
  type BufferSet,
  type Envelope,
  type WriterInit,
  type WriterReply,
  type WriterRequest,
} from '../src/protocol.js';
import { BackupRunner } from '../src/writer/backup.js';
import { WriterEngine } from '../src/writer/engine.js';
import { GroupFlusher } from '../src/writer/group-flush.js';

const init = workerData as WriterInit;
const RECYCLE_MIN_BYTES = 1 << 20;
const port = parentPort!;
const buffersChannel = new BroadcastChannel(init.channelName);
const requestChannel = new BroadcastChannel(init.requestChannel);
const replyChannels = new Map<string, BroadcastChannel>();

type Reply = (msg: WriterReply, shared?: BufferSet, payload?: ArrayBuffer) => void;

const replyToOpener: Reply = (msg, shared, payload) => {
  const { env, transfer } = envelope(msg, payload, shared);
  port.postMessage(env, transfer);
};

function replyToAttached(client: string): Reply {
  let channel = replyChannels.get(client);
  if (!channel) {
    channel = new BroadcastChannel(`${init.requestChannel}:${client}`);
    replyChannels.set(client, channel);
  }
  const ch = channel;
  // BroadcastChannel cannot transfer; buffers are cloned, and batch buffers are not sent back.
  return (msg, shared) => ch.postMessage(envelope(msg, undefined, shared).env);
}

const engine = new WriterEngine({
  path: init.path,
  flushPolicy: init.flushPolicy,
  io: nodeFileIO,
  control: init.control,
  publish: (set) => buffersChannel.postMessage(set),
});

const backups = new BackupRunner();

/** Flush waiters by token: request ids are only unique per client, tokens are global. */
const flushWaiters = new Map<number, { reply: Reply; id: number }>();
let flushSeq = 0;
const flusher = new GroupFlusher(init.flushPolicy, () => engine.flush(), (token, error) => {
  const waiter = flushWaiters.get(token);
  if (!waiter) return;
  flushWaiters.delete(token);
  waiter.reply(error ? { t: 'done', id: waiter.id, error: serializeError(error) } : { t: 'done', id: waiter.id });
});

function handle(req: WriterRequest, payload: ArrayBuffer | undefined, reply: Reply, client?: string): void {
  switch (req.t) {
    case 'write': {
      const existed = engine.append(new Uint8Array(payload!, 0, req.bytes), req.existed, req.count);
      // Large batch buffers go back to the producer, which reuses their mapped pages.
      const back = payload!.byteLength >= RECYCLE_MIN_BYTES ? payload : undefined;
      reply(existed ? { t: 'done', id: req.id, existed } : { t: 'done', id: req.id }, undefined, back);
      return;
    }
    case 'flush': {
      const token = ++flushSeq;
      flushWaiters.set(token, { reply, id: req.id });
      flusher.request(token);
      return;
    }
    case 'checkpoint':
      flusher.drain();
      engine.checkpoint();
      reply({ t: 'done', id: req.id });
      return;
    case 'stats':
      reply({ t: 'done', id: req.id, stats: engine.stats() });
      return;
    case 'count':
      reply({ t: 'done', id: req.id, count: engine.count(req.ns) });
      return;
    case 'namespace':
      reply({ t: 'done', id: req.id, nsId: engine.namespace(req.name, req.create) });
      return;
    case 'dropNamespace':
      reply({ t: 'done', id: req.id, dropped: engine.dropNamespace(req.name) });
      return;
    case 'compact':
      flusher.drain();
      reply({ t: 'done', id: req.id, report: engine.compact() });
      return;
    case 'namespaces':
      reply({ t: 'done', id: req.id, names: engine.namespaceNames() });
      return;
    case 'backup': {
      // The job is copied a chunk per event-loop turn; other requests are served in between.
      const job = engine.startBackup(req.path);
      backups.run(job, (error) => reply(error ? { t: 'done', id: req.id, error: serializeError(error) } : { t: 'done', id: req.id }));
      return;
    }
    case 'buffers':
      reply({ t: 'done', id: req.id }, engine.currentBuffers());
      return;
    case 'detach':
      reply({ t: 'done', id: req.id });
      if (client !== undefined) {
        replyChannels.get(client)?.close();
        replyChannels.delete(client);
      }
      return;
    case 'close': {
      flusher.drain();
      backups.drain();
      engine.close();
      reply({ t: 'done', id: req.id });
      // Attached threads learn that the database is gone instead of waiting forever.
      const closed = serializeError(new EmdbError(ErrorCode.CLOSED, 'database is closed'));
      for (const ch of replyChannels.values()) {
        ch.postMessage(envelope({ t: 'failed', error: closed }).env);
        ch.close();
      }
      replyChannels.clear();
      requestChannel.close();
      buffersChannel.close();
      port.close();
      return;
    }
  }
}

function dispatch(env: Envelope, reply: Reply, client?: string): void {
  const req = unpack<WriterRequest>(env.m);
  try {
    handle(req, env.payload, reply, client);
  } catch (err) {
    reply({ t: 'done', id: req.id, error: serializeError(err) });
  }
}

try {
  engine.open();
  port.on('message', (env: Envelope) => dispatch(env, replyToOpener));
  requestChannel.onmessage = (event: unknown) => {
    const { client, env } = (event as { data: AttachedRequest }).data;
    dispatch(env, replyToAttached(client), client);
  };
  replyToOpener({ t: 'ready', generation: engine.currentBuffers().generation });
} catch (err) {
  replyToOpener({ t: 'openFailed', error: serializeError(err) });
  try {
    engine.close();
  } catch {
    // the open failure is what the caller needs to see
  }
  requestChannel.close();
  buffersChannel.close();
  port.close();
}
