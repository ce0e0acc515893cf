/**
 * The writer worker: sole owner of the log file descriptor. It receives framed
 * record batches from producer threads, appends them, updates the shared index,
 * and answers flush/checkpoint requests under the configured flush policy.
 */
import { BroadcastChannel, parentPort, workerData } from 'node:worker_threads';
import { serializeError } from '../src/errors.js';
import { nodeFileIO } from '../src/log/file-io.js';
import { envelope, unpack, type BufferSet, type Envelope, type WriterInit, type WriterReply, type WriterRequest } from '../src/protocol.js';
import { WriterEngine } from '../src/writer/engine.js';
import { GroupFlusher } from '../src/writer/group-flush.js';

const init = workerData as WriterInit;
const RECYCLE_MIN_BYTES = 1 << 20;
const port = parentPort!;
const channel = new BroadcastChannel(init.channelName);

function reply(msg: WriterReply, shared?: BufferSet, payload?: ArrayBuffer): void {
  const { env, transfer } = envelope(msg, payload, shared);
  port.postMessage(env, transfer);
}

const engine = new WriterEngine({
  path: init.path,
  flushPolicy: init.flushPolicy,
  io: nodeFileIO,
  control: init.control,
  publish: (set) => channel.postMessage(set),
});

const flusher = new GroupFlusher(init.flushPolicy, () => engine.flush(), (id, error) => {
  reply(error ? { t: 'done', id, error: serializeError(error) } : { t: 'done', id });
});

function handle(req: WriterRequest, payload: ArrayBuffer | undefined): void {
  switch (req.t) {
    case 'write': {
      const existed = engine.append(new Uint8Array(payload!, 0, req.bytes), req.existed, req.count);
      // Large batch buffers go back to the producer, which reuses their mapped pages.
      const back = payload!.byteLength >= RECYCLE_MIN_BYTES ? payload : undefined;
      reply(existed ? { t: 'done', id: req.id, existed } : { t: 'done', id: req.id }, undefined, back);
      return;
    }
    case 'flush':
      flusher.request(req.id);
      return;
    case 'checkpoint':
      flusher.drain();
      engine.checkpoint();
      reply({ t: 'done', id: req.id });
      return;
    case 'stats':
      reply({ t: 'done', id: req.id, stats: engine.stats() });
      return;
    case 'buffers':
      reply({ t: 'done', id: req.id }, engine.currentBuffers());
      return;
    case 'close':
      flusher.drain();
      engine.close();
      reply({ t: 'done', id: req.id });
      channel.close();
      port.close();
      return;
  }
}

try {
  engine.open();
  port.on('message', (env: Envelope) => {
    const req = unpack<WriterRequest>(env.m);
    try {
      handle(req, env.payload);
    } catch (err) {
      reply({ t: 'done', id: req.id, error: serializeError(err) });
    }
  });
  reply({ t: 'ready', generation: engine.currentBuffers().generation });
} catch (err) {
  reply({ t: 'openFailed', error: serializeError(err) });
  try {
    engine.close();
  } catch {
    // the open failure is what the caller needs to see
  }
  channel.close();
  port.close();
}
