import { BroadcastChannel, receiveMessageOnPort } from 'node:worker_threads';
import { recordExpiresAt, recordValueLen } from '../format/record-fields.js';
import { clockNow32 } from './clock.js';
import { hashKey } from './hash.js';
import { IndexView } from './index-table.js';
import { CONTROL_BYTES, Ctl32, Ctl64, DbState, READS_PUBLISH_EVERY } from './layout.js';
import type { LazySpec } from './lazy-pages.js';
import type { MirrorView } from './mirror.js';
import { FramedView, mirrorViewOf, type FramedSpec } from './framed-mirror.js';
import { GenerationRetired } from './frame-records.js';
import { EmdbError, ErrorCode } from '../errors.js';
import type { SortedManifest } from './sorted-run.js';

/** The shared buffers a thread needs to probe the index and read values (broadcast by the writer, rule R4). */
export interface BufferSet {
  generation: number;
  index: SharedArrayBuffer;
  segments: SharedArrayBuffer[];
  /** A lazily opened log's page loader (shm/lazy-pages.ts); absent once the generation is wholly in memory. */
  lazy?: LazySpec;
  /** A log read through the bounded page cache (framed-mirror.ts): segments is empty then. */
  framed?: FramedSpec;
  /** The sorted index's runs and tail; present exactly when the database was opened with rangeScans. */
  sorted?: SortedManifest;
  /** Changes when a compaction replaced the log's mirror and index: the previous ones are garbage once dropped. */
  logEpoch?: number;
  /**
   * Ids of every namespace dropped since the database was opened (ids are not
   * reused while it is open). A drop posts a new set before it replies, so a
   * thread that holds a Namespace handle learns of a drop made on another
   * thread at its next call (R4), not only the thread that dropped it.
   */
  droppedNs?: number[];
}

/**
 * One thread's window onto the shared database: the control block, the current
 * index table and the mirror segments. Main thread, reader workers and attached
 * user workers each hold one; none copies the index.
 */
export class SharedView {
  readonly ctl32: Int32Array;
  readonly ctl64: BigInt64Array;
  generation = 0;
  /** BufferSet.logEpoch of the set this view holds. */
  logEpoch = 0;
  index: IndexView | undefined;
  mirror: MirrorView | undefined;
  /** The mirror when it is a framed generation's (the bounded page cache): lookups take its one-window path. */
  private framed: FramedView | undefined;
  /** The sorted index of this generation; undefined when the database was opened without rangeScans. */
  sorted: SortedManifest | undefined;
  /** Namespaces dropped since open, by any thread (BufferSet.droppedNs). */
  private droppedNs: ReadonlySet<number> = new Set();
  /**
   * Called when this view lets go of a whole generation: a compaction's new
   * set (its logEpoch changed) replaced the mirror and index, or close(), with
   * the bytes of the buffers it held. User threads set it to schedule one
   * collection (shm/collect-garbage.ts).
   */
  onDrop: ((bytes: number) => void) | undefined;
  private readonly channel: BroadcastChannel;
  private closed = false;

  /**
   * The last value's bytes stay as they are until this view drops its
   * generation (the whole-log mirror, R3); false for a framed log, whose
   * value sits in a scratch the next lookups reuse: copy it before them.
   */
  valueStable = true;
  /** Result of the last successful lookup: the value's bytes are valueU8[valueStart, valueStart + valueLen). */
  valueU8: Uint8Array = new Uint8Array(0);
  valueStart = 0;
  valueLen = 0;
  /** Deadline of the last found record in epoch ms (0 = none): ttl() and expiresAt() read it. */
  valueExpiresAt = 0;
  /** Lookups made on this thread and not yet added to the shared READS slot. */
  private unpublishedReads = 0;

  constructor(
    readonly control: SharedArrayBuffer,
    readonly channelName: string,
    initial?: BufferSet,
  ) {
    this.ctl32 = new Int32Array(control);
    this.ctl64 = new BigInt64Array(control);
    // Subscribe before anything can be published, so rule R4's message is never missed.
    this.channel = new BroadcastChannel(channelName);
    this.channel.onmessage = (event: unknown) => this.offer((event as { data: BufferSet }).data);
    (this.channel as unknown as { unref?: () => void }).unref?.();
    if (initial) this.offer(initial);
  }

  offer(set: BufferSet): void {
    if (this.closed || set.generation <= this.generation) return;
    const epoch = set.logEpoch ?? 0;
    const dropped = this.index !== undefined && epoch !== this.logEpoch ? this.heldBytes() : 0;
    this.generation = set.generation;
    this.index = new IndexView(set.index);
    this.mirror = mirrorViewOf(set);
    this.framed = this.mirror instanceof FramedView ? this.mirror : undefined;
    this.sorted = set.sorted;
    this.logEpoch = epoch;
    if (set.droppedNs) this.droppedNs = new Set(set.droppedNs);
    if (dropped > 0) {
      // The last value read would keep a whole segment of the old mirror alive.
      this.forgetValue();
      this.onDrop?.(dropped);
    }
  }

  /** Bytes of the shared buffers this view holds (index, mirror segments, sorted runs and tail). */
  private heldBytes(): number {
    let bytes = this.index?.buffer.byteLength ?? 0;
    for (const b of this.mirror?.buffers ?? []) bytes += b.byteLength;
    const sorted = this.sorted;
    if (sorted) for (const b of [sorted.tail, ...sorted.runs]) bytes += b.byteLength;
    return bytes;
  }

  private forgetValue(): void {
    this.valueU8 = new Uint8Array(0);
    this.valueStart = 0;
    this.valueLen = 0;
  }

  /**
   * True when namespace `id` was dropped, on any thread, before this call (its
   * drop posted a set before replying, R4). The default namespace (0) is never
   * dropped.
   */
  namespaceDropped(id: number): boolean {
    if (id === 0) return false;
    this.sync();
    return this.droppedNs.has(id);
  }

  /**
   * Brings this thread to the published generation (rule R4). False when the set
   * is not available to this thread (it subscribed after it was posted); the
   * caller then asks the writer for it.
   */
  sync(): boolean {
    const target = Atomics.load(this.ctl32, Ctl32.GENERATION);
    if (target === this.generation) return true;
    if (this.closed) return false;
    for (;;) {
      const msg = receiveMessageOnPort(this.channel as unknown as Parameters<typeof receiveMessageOnPort>[0]);
      if (!msg) break;
      this.offer(msg.message as BufferSet);
      if (this.generation >= target) return true;
    }
    return this.generation >= target;
  }

  /**
   * Counts `n` key lookups made on this thread. A plain add on the hot path; the
   * shared slot is touched every READS_PUBLISH_EVERY lookups and once at the end
   * of the current synchronous run (layout.ts, READS).
   */
  countReads(n: number): void {
    if (this.unpublishedReads === 0) queueMicrotask(this.publishReads);
    this.unpublishedReads += n;
    if (this.unpublishedReads >= READS_PUBLISH_EVERY) this.publishReads();
  }

  /** Adds this thread's pending lookups to READS now (stats() does, so a thread sees its own reads). */
  readonly publishReads = (): void => {
    const n = this.unpublishedReads;
    if (n === 0) return;
    this.unpublishedReads = 0;
    Atomics.add(this.ctl64, Ctl64.READS, BigInt(n));
  };

  /** The database's clock (shm/clock.ts): what expiry is decided against. */
  now(): number {
    return clockNow32(this.ctl32);
  }

  state(): number {
    return Atomics.load(this.ctl32, Ctl32.STATE);
  }

  /** Key lookups counted in READS so far (call publishReads first to include this thread's). */
  reads(): number {
    return Number(Atomics.load(this.ctl64, Ctl64.READS));
  }

  /** Reader-pool threads of the opening thread (READERS). */
  readers(): number {
    return Atomics.load(this.ctl32, Ctl32.READERS);
  }

  setReaders(n: number): void {
    Atomics.store(this.ctl32, Ctl32.READERS, n);
  }

  /**
   * A single lookup on this thread (getSync, contains, an attached thread's
   * get): brings the view to the published generation, counts the read, then
   * looks the key up.
   */
  lookupOne(namespace: number, key: Uint8Array, start: number, len: number): boolean {
    this.sync();
    this.countReads(1);
    return this.lookup(namespace, key, start, len);
  }

  /**
   * The one lookup every reader uses: probes the index for (namespace, key),
   * skips an expired record, and leaves the live value in valueU8 / valueStart /
   * valueLen (shared memory: copy or decode it before the next lookup). False
   * when absent or expired. The caller has synced the view (sync()).
   */
  lookup(namespace: number, key: Uint8Array, start: number, len: number): boolean {
    try {
      return this.lookupIn(namespace, key, start, len);
    } catch (err) {
      // G3: this view's generation was retired by a compaction; the new one was published before that.
      if (!(err instanceof GenerationRetired)) throw err;
      // Or the database closed: it marks itself CLOSED before it closes the descriptors (engine.ts, close).
      const refused = this.retiredOrClosed();
      if (refused) throw refused;
      return this.lookupIn(namespace, key, start, len);
    }
  }

  /**
   * After a read met its generation's descriptor closed: ERR_EMDB_CLOSED when
   * the database closed; undefined when a newer generation is published (the
   * view has moved to it: read again); else an ERR_EMDB_IO.
   */
  retiredOrClosed(): EmdbError | undefined {
    if (this.databaseClosed) return closedError();
    // The writer retires a generation only after it published the next one (framed-generations.ts).
    if (this.sync()) return undefined;
    return new EmdbError(ErrorCode.IO, 'the log generation this thread read was retired and the next one has not reached it');
  }

  /**
   * What a read of a pinned generation (an iteration, a range snapshot) that
   * met its descriptor closed reports: ERR_EMDB_CLOSED when the database
   * closed (pins hold a descriptor against compactions, not against close),
   * else the error itself.
   */
  closedInstead(err: unknown): unknown {
    return err instanceof GenerationRetired && this.databaseClosed ? closedError() : err;
  }

  /** The database closed (it marks itself CLOSED before it closes the generations' descriptors). */
  private get databaseClosed(): boolean {
    return Atomics.load(this.ctl32, Ctl32.STATE) === DbState.CLOSED;
  }

  private lookupIn(namespace: number, key: Uint8Array, start: number, len: number): boolean {
    const index = this.index;
    const mirror = this.mirror;
    if (!index || !mirror) return false;
    const framed = this.framed;
    if (framed !== undefined) return this.lookupFramed(index, framed, namespace, key, start, len);
    const lsn = index.find(mirror, namespace, key, start, len, hashKey(namespace, key, start, len));
    if (lsn < 0) return false;
    // keyEquals loaded the record, covered its header and key and left where the key ends; the value follows it.
    const off = mirror.residentRecordAt(lsn);
    const dv = mirror.recDv;
    const valueStart = mirror.keyEnd;
    const valueLen = recordValueLen(dv, off);
    if (!mirror.coverRecord(valueStart + valueLen)) return false;
    const expiresAt = recordExpiresAt(dv, off);
    if (expiresAt !== 0 && expiresAt <= clockNow32(this.ctl32)) return false;
    this.valueExpiresAt = expiresAt;
    this.valueStable = mirror.stableRecords;
    this.valueU8 = mirror.recU8;
    this.valueStart = valueStart;
    this.valueLen = valueLen;
    return true;
  }

  /**
   * lookupIn over a framed generation: the probe's match leaves the value
   * already copied out under its frame's version (or in the fetched, checked
   * record), so nothing is located or copied twice (framed-mirror.ts).
   */
  private lookupFramed(index: IndexView, framed: FramedView, namespace: number, key: Uint8Array, start: number, len: number): boolean {
    if (framed.lookupValue(index, namespace, key, start, len, hashKey(namespace, key, start, len)) < 0) return false;
    const value = framed.captured;
    const expiresAt = value.valExpiresAt;
    if (expiresAt !== 0 && expiresAt <= clockNow32(this.ctl32)) return false;
    this.valueExpiresAt = expiresAt;
    this.valueStable = false;
    this.valueU8 = value.valU8;
    this.valueStart = value.valStart;
    this.valueLen = value.valLen;
    return true;
  }

  close(): void {
    this.closed = true;
    this.channel.close();
    const held = this.heldBytes();
    this.index = undefined;
    this.mirror = undefined;
    this.framed = undefined;
    this.sorted = undefined;
    this.forgetValue();
    if (held > 0) this.onDrop?.(held);
  }
}

/** Creates the control block shared by all threads of one open database. */
export function createControlBlock(): SharedArrayBuffer {
  return new SharedArrayBuffer(CONTROL_BYTES);
}

function closedError(): EmdbError {
  return new EmdbError(ErrorCode.CLOSED, 'database is closed');
}
