/**
 * The writer worker: sole owner of the log file descriptor. It receives framed
 * record batches from producer threads, appends them, updates the shared index,
 * and answers flush/checkpoint requests under the configured flush policy.
 *
 * Requests arrive from the opening thread on the worker's own port, and from
 * attached threads (Emdb.attach) first on the database's request channel, then
 * on a link channel per client that carries its requests and replies both
 * ways. Only the writer and that client hold a link, so a request wakes the
 * writer alone and a reply wakes its client alone.
 */
import { BroadcastChannel, parentPort, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { EmdbError, ErrorCode, serializeError } from '../src/errors.js';
import { identityBinder, lockBackupTarget } from '../src/lock.js';
import { nodeFileIO } from '../src/log/file-io.js';
import type { AttachedRequest, BufferSet, Envelope, PortMessage, WriterInit, WriterReply, WriterRequest } from '../src/protocol.js';
import { definedOnly, envelope, unpack } from '../src/protocol-codec.js';
import { eachEnvelope, PortOutbox } from '../src/port-outbox.js';
import { collectDroppedBuffers, collectPendingNow } from '../src/shm/collect-garbage.js';
import { BackupRunner, type BackupJob } from '../src/writer/backup.js';
import { CompactionRunner } from '../src/writer/compaction-runner.js';
import { WriterEngine } from '../src/writer/engine.js';
import { GroupFlusher, type FlushDone } from '../src/writer/group-flush.js';
import { idleSnapshotDue, idleSnapshotMinBytes } from '../src/writer/idle-snapshot.js';
import { Linger, lingerMicros } from '../src/writer/linger.js';
import { applyMarkedWrite } from '../src/writer/marked-write.js';
import { Sweeper } from '../src/writer/sweeper.js';

const port = parentPort!;

/**
 * The opener starts this thread before it holds the database's lock, so that
 * this start-up overlaps it (core/writer-worker.ts, SpawnedWriter); the init
 * is its first message. When the lock is refused it says `cancel` instead: the
 * port is closed and, nothing else being open yet, the thread ends. (The
 * message has the shape of core/writer-worker.ts's WriterStart; this side may
 * not import the user side.)
 */
port.once('message', (msg: { init: WriterInit } | { cancel: true }) => {
  if ('init' in msg) serve(msg.init);
  else port.close();
});

/** Everything the writer does, from its init on (a function, not module code: the bundle is CommonJS, see rolldown.config.mjs). */
function serve(init: WriterInit): void {

  const RECYCLE_MIN_BYTES = 1 << 20;
  const buffersChannel = new BroadcastChannel(init.channelName);
  const requestChannel = new BroadcastChannel(init.requestChannel);
  const links = new Map<string, { channel: BroadcastChannel; reply: Reply }>();

  type Reply = (msg: WriterReply, shared?: BufferSet, payload?: ArrayBuffer) => void;

  // Replies made in one turn (a batch's flushes answered by one sync) leave in one message.
  const openerOutbox = new PortOutbox((msg, transfer) => port.postMessage(msg, transfer));
  const replyToOpener: Reply = (msg, shared, payload) => {
    const { env, transfer } = envelope(msg, payload, shared);
    openerOutbox.push(env, transfer);
  };

  /** Posts pending replies, then closes the opener's port (a reply still queued would be lost). */
  function closePort(): void {
    openerOutbox.flush();
    port.close();
  }

  /** How to answer an attached client: its link, opened on its first request. */
  function replyToAttached(client: string): Reply {
    let link = links.get(client);
    if (!link) {
      const channel = new BroadcastChannel(`${init.requestChannel}:${client}`);
      // BroadcastChannel cannot transfer; buffers are cloned, and batch buffers are not sent back.
      const reply: Reply = (msg, shared) => channel.postMessage(envelope(msg, undefined, shared).env);
      channel.onmessage = (event: unknown) => dispatch((event as { data: Envelope }).data, reply, client);
      link = { channel, reply };
      links.set(client, link);
    }
    return link.reply;
  }

  const engine = new WriterEngine({
    path: init.path,
    flushPolicy: init.flushPolicy,
    io: nodeFileIO,
    control: init.control,
    publish: (set) => buffersChannel.postMessage(set),
    ...(init.rangeScans ? { rangeScans: init.rangeScans } : {}),
    valueEncoding: init.valueEncoding,
    ...(init.anyEncoding ? { anyEncoding: true } : {}),
    recovery: init.recovery,
    ...(init.encryption ? { encryption: init.encryption } : {}),
    ...(init.cacheSize !== undefined ? { cacheSize: init.cacheSize } : {}),
    ...(init.snapshot ? { prefetchedSnapshot: init.snapshot } : {}),
  });

  const backups = new BackupRunner();
  // A sweep batch can start an index purge: its steps are scheduled like the merges.
  const sweeper = new Sweeper(engine, () => scheduleMerge());
  /** Keeps the opener's lock on the file's identity (its inode changes on create and compaction). */
  const bindIdentity = init.lockRecord === undefined ? () => undefined : identityBinder(init.lockRecord);

  const flusher = new GroupFlusher(
    init.flushPolicy,
    () => {
      engine.flush();
      checkpointAfterSync();
    },
    () => engine.needsSync(),
  );
  /**
   * The automatic checkpoint a large sync made due (engine.autoCheckpointDue):
   * run after the sync's replies are posted (setImmediate), or before the next
   * request if one comes first (dispatch; the linger poll can pick one up
   * before the immediate runs), so every later request sees the moved tail hint.
   */
  let slotSoon: NodeJS.Immediate | undefined;
  function checkpointAfterSync(): void {
    if (slotSoon === undefined && engine.autoCheckpointDue()) slotSoon = setImmediate(checkpointNow);
  }
  function checkpointNow(): void {
    if (slotSoon !== undefined) clearImmediate(slotSoon);
    slotSoon = undefined;
    try {
      engine.autoCheckpoint();
    } catch {
      // reported by the next write or flush (engine.failed), as for the timer's checkpoint
    }
  }

  // The copy runs a bounded step per event-loop turn; writes are served in between (DESIGN.md, "Compaction").
  const compactions = new CompactionRunner(engine, {
    beforeSwap: () => flusher.drain(),
    afterSwap: () => {
      bindIdentity();
      sweeper.arm();
      // The old generation's mirror and index are garbage now; this heap would not collect them for a long time.
      collectDroppedBuffers();
    },
  });

  function handle(req: WriterRequest, payload: ArrayBuffer | undefined, reply: Reply, client?: string): void {
    switch (req.t) {
      case 'write': {
        if (req.liveNs) engine.assertNamespacesLive(req.liveNs);
        const batch = new Uint8Array(payload!, 0, req.bytes);
        // Large batch buffers go back to the producer, which reuses their mapped pages.
        const back = payload!.byteLength >= RECYCLE_MIN_BYTES ? payload : undefined;
        if (!req.marks) {
          const existed = engine.append(batch, req.existed, req.count);
          sweeper.poke();
          reply(existed ? { t: 'done', id: req.id, existed } : { t: 'done', id: req.id }, undefined, back);
          return;
        }
        // Applied now; the one reply waits for the marks' syncs and says how each went.
        engine.reserveKeys(req.count);
        const steps = { append: (bytes: Uint8Array) => engine.append(bytes, req.existed), requestFlush: (done: FlushDone) => flusher.request(done) };
        applyMarkedWrite(batch, req.marks, steps, (outcome) => reply({ t: 'done', id: req.id, ...definedOnly(outcome) }, undefined, back));
        sweeper.poke();
        return;
      }
      case 'flush':
        flusher.request((error) => reply(error ? { t: 'done', id: req.id, error: serializeError(error) } : { t: 'done', id: req.id }));
        return;
      case 'checkpoint':
        flusher.drain();
        engine.checkpoint();
        reply({ t: 'done', id: req.id });
        return;
      case 'stats':
        reply({ t: 'done', id: req.id, stats: { ...engine.stats(), flushTimeouts: flusher.timeouts } });
        return;
      case 'count':
        reply({ t: 'done', id: req.id, count: engine.count(req.ns) });
        return;
      case 'namespace': {
        const nsId = engine.namespace(req.name, req.create, req.encoding);
        const nsEncoding = engine.namespaceEncoding(nsId);
        reply({ t: 'done', id: req.id, nsId, ...(nsEncoding ? { nsEncoding } : {}) });
        return;
      }
      case 'dropNamespace':
        reply({ t: 'done', id: req.id, dropped: engine.dropNamespace(req.name) });
        return;
      case 'compact':
        compactions.start(req.force === true, (report, error) =>
          reply(error !== undefined ? { t: 'done', id: req.id, error: serializeError(error) } : { t: 'done', id: req.id, report: report! }),
        );
        return;
      case 'reencrypt':
        compactions.drain();
        flusher.drain();
        engine.reencrypt(req.to, req.keepBackup);
        reply({ t: 'done', id: req.id });
        return;
      case 'persist':
        reply({ t: 'done', id: req.id, persisted: engine.persist(req.ns, req.key) });
        return;
      case 'sweep':
        sweeper.arm();
        reply({ t: 'done', id: req.id });
        return;
      case 'namespaces':
        reply({ t: 'done', id: req.id, names: engine.namespaceNames() });
        return;
      case 'backup': {
        // The job is copied a chunk per event-loop turn; other requests are served in between.
        // It holds the target's lock throughout: no open database there, no second backup to it.
        const target = lockBackupTarget(req.path);
        let job: BackupJob;
        try {
          job = engine.startBackup(target.canonical);
        } catch (err) {
          target.release();
          throw err;
        }
        backups.run(job, (error) => {
          let failure = error;
          try {
            target.release();
          } catch (err) {
            failure ??= err;
          }
          reply(failure ? { t: 'done', id: req.id, error: serializeError(failure) } : { t: 'done', id: req.id });
        });
        return;
      }
      case 'buffers':
        reply({ t: 'done', id: req.id }, engine.currentBuffers());
        return;
      case 'detach':
        reply({ t: 'done', id: req.id });
        if (client !== undefined) {
          links.get(client)?.channel.close();
          links.delete(client);
        }
        return;
      case 'close': {
        sweeper.stop();
        clearInterval(autoCheckpoint);
        if (slotSoon !== undefined) clearImmediate(slotSoon);
        if (warmTimer) clearTimeout(warmTimer);
        flusher.drain();
        backups.drain();
        compactions.drain();
        const snapshotFailed = engine.close()?.message;
        reply({ t: 'done', id: req.id, ...(snapshotFailed ? { snapshotFailed } : {}) });
        // Attached threads learn that the database is gone instead of waiting forever.
        const closed = serializeError(new EmdbError(ErrorCode.CLOSED, 'database is closed'));
        for (const { channel } of links.values()) {
          channel.postMessage(envelope({ t: 'failed', error: closed }).env);
          channel.close();
        }
        links.clear();
        requestChannel.close();
        buffersChannel.close();
        closePort();
        return;
      }
    }
  }

  /**
   * Requests that read the whole log: a lazily opened log loads its remaining
   * pages first, in one go. A write loads only the pages of the records it
   * replaces, before the file is touched (LogWriter.append, writer/lazy-prefetch.ts);
   * single records that stats() and count() read are loaded where they are read.
   */
  const READS_WHOLE_LOG: ReadonlySet<WriterRequest['t']> = new Set(['dropNamespace', 'compact', 'reencrypt', 'persist', 'backup']);

  const lingering = new Linger(init.flushPolicy.kind, lingerMicros());
  /**
   * Polls the opener's port for LINGER_MICROS after answering a durable request
   * (writer/linger.ts): runs in a nextTick queued after the dispatch, so the
   * outbox's reply (queued during the dispatch) has been posted already.
   */
  function linger(): void {
    const got = lingering.poll(() => receiveMessageOnPort(port as unknown as MessagePort));
    if (!got) return;
    eachEnvelope(got.message as PortMessage, (env) => dispatch(env, replyToOpener));
    if (lingering.again()) process.nextTick(linger);
  }

  /** When the last request arrived (performance.now()): the idle snapshot waits for quiet. */
  let lastRequestAt = performance.now();

  function dispatch(env: Envelope, reply: Reply, client?: string): void {
    const req = unpack<WriterRequest>(env.m);
    lastRequestAt = performance.now();
    if (slotSoon !== undefined) checkpointNow();
    // Only the opener's requests: the poll reads the opener's port alone.
    if (client === undefined) lingering.saw(req);
    try {
      if (READS_WHOLE_LOG.has(req.t) && engine.warming()) engine.warmAll();
      handle(req, env.payload, reply, client);
    } catch (err) {
      reply({ t: 'done', id: req.id, error: serializeError(err) });
    }
    scheduleMerge();
  }

  /** Index purge copy per event-loop turn, ms: a request waits behind at most one step (DESIGN.md, "The shared index"). */
  const PURGE_STEP_MS = 4;
  /** Lazily opened log: page loading per event-loop turn, ms (DESIGN.md, "Lazy log pages"). */
  const WARM_STEP_MS = 4;
  /**
   * While requests keep coming the warm-up gives way: a request that arrives
   * during a step waits for it, so a producer writing in a loop right after a
   * reopen would pay a step per write. No step within WARM_QUIET_MS of the last
   * request (a timer looks again), steps of WARM_STEP_BUSY_MS within
   * RECENT_REQUEST_MS. The pages a write needs are loaded by the write itself
   * (writer/lazy-prefetch.ts) and those a read needs by the read, so a
   * deferred warm-up only keeps the page loader around for longer.
   */
  const WARM_QUIET_MS = 2;
  const WARM_STEP_BUSY_MS = 0.5;
  const RECENT_REQUEST_MS = 20;
  let warmTimer: NodeJS.Timeout | undefined;

  /** One warm-up step as the request rate allows; true when pages remain. */
  function warmWhenQuiet(): boolean {
    const quietFor = performance.now() - lastRequestAt;
    if (quietFor < WARM_QUIET_MS) {
      warmTimer ??= setTimeout(() => {
        warmTimer = undefined;
        scheduleMerge();
      }, WARM_QUIET_MS).unref();
      return false;
    }
    return engine.warmStep(quietFor < RECENT_REQUEST_MS ? WARM_STEP_BUSY_MS : WARM_STEP_MS);
  }

  /**
   * Background work on the shared indexes, one step per event-loop turn, after
   * the turn's messages: a tombstone purge of the hash index (a bounded copy)
   * and sorted-index merges (rangeScans).
   */
  let mergeScheduled = false;
  function scheduleMerge(): void {
    if (mergeScheduled || !(engine.warmsInBackground() || engine.indexPurging() || engine.sortedNeedsMerge())) return;
    mergeScheduled = true;
    setImmediate(() => {
      mergeScheduled = false;
      let more = false;
      try {
        if (engine.warmsInBackground()) more = warmWhenQuiet();
      } catch {
        // A damaged page poisoned the engine: writes report it, reads of that page fail on their own.
      }
      try {
        more = engine.purgeIndex(PURGE_STEP_MS) || more;
      } catch {
        // Nothing but memory is touched; the next request's write supersedes or retries the purge.
      }
      try {
        more = engine.maintainSorted() || more;
      } catch {
        // A merge only reorganizes immutable runs; the next commit or checkpoint retries.
      }
      if (more) scheduleMerge();
    });
  }

  /**
   * The automatic checkpoint (docs/FORMAT.md, "Header slots"): a timer task, so
   * it runs between requests and never inside a write's latency; unref'd, so it
   * never keeps the process alive. A failure poisons the engine as any failed
   * checkpoint does, and the next request reports it.
   */
  const snapshotMinBytes = idleSnapshotMinBytes();
  const autoCheckpoint = setInterval(() => {
    // A compaction makes the idle snapshot due, and a swap longer than this interval leaves it overdue: it
    // ran before the collection's timer and kept the old log resident for its 0.3-0.5 s of a 300 MB log.
    collectPendingNow();
    engine.cacheTick();
    if (!compactions.running && backups.active === 0) {
      try {
        engine.frameIfGrown();
      } catch {
        // The page cache could not take over (no descriptor for it): the whole log stays in memory, as before.
      }
    }
    try {
      const [behind, indexBytes] = engine.snapshotLag();
      if (idleSnapshotDue(behind, indexBytes, performance.now() - lastRequestAt, snapshotMinBytes) && !compactions.running && backups.active === 0) {
        flusher.drain();
        engine.checkpoint();
      } else {
        engine.autoCheckpoint();
      }
    } catch {
      // reported by the next write or flush (engine.failed); a failed snapshot leaves the previous one valid
    }
  }, 250);
  autoCheckpoint.unref();

  try {
    engine.open();
    bindIdentity();
    port.on('message', (msg: PortMessage) => {
      eachEnvelope(msg, (env) => dispatch(env, replyToOpener));
      if (lingering.due()) process.nextTick(linger);
    });
    requestChannel.onmessage = (event: unknown) => {
      const { client, env } = (event as { data: AttachedRequest }).data;
      dispatch(env, replyToAttached(client), client);
    };
    replyToOpener({ t: 'ready', generation: engine.currentBuffers().generation });
    // After `ready`, in a later turn: the first reads never wait for a sweep or for page warming.
    setTimeout(() => sweeper.arm(), 0).unref();
    setTimeout(() => scheduleMerge(), 0).unref();
  } catch (err) {
    clearInterval(autoCheckpoint);
    if (warmTimer) clearTimeout(warmTimer);
    replyToOpener({ t: 'openFailed', error: serializeError(err) });
    try {
      engine.close();
    } catch {
      // the open failure is what the caller needs to see
    }
    requestChannel.close();
    buffersChannel.close();
    closePort();
  }
}
