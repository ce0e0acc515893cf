import { NS_CREATE_VALUE_SIZE, RecordKind, SEAL_KIND } from '../format/constants.js';
import { frameSize, nsCreateEncoding } from '../format/record.js';
import { recordExpiresAt, recordKeyLen, recordKeyStart, recordKind, recordNamespace } from '../format/record-fields.js';
import { hashKey } from '../shm/hash.js';
import { IndexRebuild } from '../shm/index-rebuild.js';
import { IndexWriter } from '../shm/index-table.js';
import { MAX_LOAD } from '../shm/layout.js';
import type { MirrorWriter } from '../shm/mirror.js';
import type { SortedIndexWriter } from '../shm/sorted-writer.js';
import { DeadlineHeap } from './deadlines.js';

/** The deadline heap is rebuilt from its valid entries once it holds this many more than twice the live TTL records. */
const HEAP_SLACK = 4096;

/**
 * What the log means, kept by the writer: the shared index, the mirror, the
 * namespace catalogue and byte accounting. Recovery and live appends both go
 * through `apply`, so a reopened database is the same state as before the crash.
 * Every read of a record that was in the log before this write (the one a key
 * replaces, a deadline's, a dropped namespace's) goes through
 * `mirror.recordAt`: a lazily opened log may not have loaded it yet.
 */
export class LogState {
  liveBytes = 0;
  deadBytes = 0;
  readonly namespaces = new Map<number, string>();
  /** Live keys per namespace id (len() of a namespace, without a scan). */
  readonly counts = new Map<number, number>();
  /** Value encoding code each namespace was created with (format 3 NS_CREATE); absent = not recorded. */
  readonly nsEncodings = new Map<number, number>();
  /** Bytes of each namespace's NS_CREATE record applied since open: counted live until the namespace is dropped. */
  private readonly nsCreateBytes = new Map<number, number>();
  nextNamespaceId = 1;
  /** Called after the index was replaced by a bigger or purged table (publish it). */
  onIndexReplaced: (() => void) | undefined;
  /** Upcoming deadlines of records with a TTL (log/deadlines.ts; persisted with the index snapshot). */
  readonly deadlines = new DeadlineHeap();
  /** Live records carrying a TTL, expired or not (bounds the deadline heap's stale entries). */
  ttlLive = 0;
  /**
   * The database clock (shm/clock.ts), set by the engine. Only results depend
   * on it (whether a removed key counted as present), never what the index
   * holds, so recovery replays the same state whatever the time.
   */
  now: () => number = Date.now;
  /** The sorted index (rangeScans: true): told of every key that becomes live or stops being live. */
  sorted: SortedIndexWriter | undefined;
  /**
   * Purge tombstones a step at a time (stepPurge, called by the writer between
   * requests) instead of in one rebuild inside the write that crossed the
   * threshold. Off during recovery and compaction, where nothing waits and
   * nobody would call stepPurge: the engine turns it on once the state is live.
   */
  incrementalPurge = false;
  /** The tombstone purge under way (shm/index-rebuild.ts), if any. */
  private purge: IndexRebuild | undefined;

  constructor(
    public index: IndexWriter,
    public mirror: MirrorWriter,
  ) {}

  /** Size in bytes of the record at `lsn` (already in the mirror). */
  recordSize(lsn: number): number {
    const off = this.mirror.recordAt(lsn);
    return frameSize(this.mirror.recDv, off);
  }

  /**
   * Applies the record at `lsn` to the index. Returns 1 when a PUT or TOMBSTONE
   * found the key already present, else 0 (remove() reports it as its result).
   */
  apply(lsn: number): number {
    // Just appended, or just checked by the replay: past the lazy range (L4). Locals: the probes below move recU8.
    const off = this.mirror.residentRecordAt(lsn);
    const u8 = this.mirror.recU8;
    const dv = this.mirror.recDv;
    const kind = recordKind(dv, off);
    const ns = recordNamespace(dv, off);
    const keyLen = recordKeyLen(dv, off);
    const size = frameSize(dv, off);
    const keyStart = recordKeyStart(dv, off);
    if ((kind === RecordKind.PUT || kind === RecordKind.TOMBSTONE || kind === RecordKind.CLEAR || kind === RecordKind.PREFIX_DELETE) && ns !== 0 && !this.namespaces.has(ns)) {
      // Written with the id of a namespace dropped meanwhile (a transaction staged
      // into it, an attached thread held it): never data. Compaction forgets
      // dropped ids and reuses them, so such a record must not reach the index.
      this.deadBytes += size;
      return 0;
    }
    switch (kind) {
      case RecordKind.PUT: {
        if (this.index.full()) this.replaceIndex(this.index.live + 1);
        // A purge whose table this key would overfill starts again, sized for the keys there are now.
        else if (this.purge && !this.purge.fits(1)) this.purge = IndexRebuild.start(this.index, this.index.live + 1);
        const hash = hashKey(ns, u8, keyStart, keyLen);
        const prev = this.index.upsert(this.mirror, ns, u8, keyStart, keyLen, hash, lsn);
        this.purge?.upserted(this.mirror, ns, u8, keyStart, keyLen, hash, lsn);
        this.sorted?.put(ns, u8, keyStart, keyLen, lsn);
        this.liveBytes += size;
        const expiresAt = recordExpiresAt(dv, off);
        if (expiresAt !== 0) this.addDeadline(expiresAt, lsn);
        if (prev < 0) {
          this.counts.set(ns, (this.counts.get(ns) ?? 0) + 1);
          return 0;
        }
        const visible = !this.expired(prev);
        this.retire(prev);
        return visible ? 1 : 0;
      }
      case RecordKind.TOMBSTONE: {
        const hash = hashKey(ns, u8, keyStart, keyLen);
        const prev = this.index.remove(this.mirror, ns, u8, keyStart, keyLen, hash);
        this.deadBytes += size;
        if (prev < 0) return 0;
        this.purge?.removed(this.mirror, ns, u8, keyStart, keyLen, hash);
        // A removal of a key whose deadline passed reports false (it was invisible), but still removes it.
        const visible = !this.expired(prev);
        this.sorted?.remove(ns, u8, keyStart, keyLen);
        this.retire(prev);
        this.counts.set(ns, (this.counts.get(ns) ?? 1) - 1);
        this.purgeIfDue();
        return visible ? 1 : 0;
      }
      case RecordKind.CLEAR:
        this.deadBytes += size;
        this.dropNamespaceKeys(ns);
        return 0;
      case RecordKind.PREFIX_DELETE:
        this.deadBytes += size;
        // A copy: the scan resolves every record, and a framed log's copies are reused (framed-mirror.ts).
        return this.dropPrefixKeys(ns, u8.slice(keyStart, keyStart + keyLen));
      case RecordKind.NS_CREATE: {
        this.namespaces.set(ns, Buffer.from(u8.buffer, u8.byteOffset + keyStart, keyLen).toString('utf8'));
        const encoding = nsCreateEncoding(dv, off);
        if (encoding !== 0) this.nsEncodings.set(ns, encoding);
        else this.nsEncodings.delete(ns);
        this.nextNamespaceId = Math.max(this.nextNamespaceId, ns + 1);
        this.liveBytes += size;
        this.nsCreateBytes.set(ns, size);
        return 0;
      }
      case RecordKind.NS_DROP: {
        this.deadBytes += size;
        // The catalogue record that created it is dead now too (compaction drops it). Created before the
        // snapshot this open started from: its size is not known here, so the format 3 form's (the drop's
        // own size, same name and sealing, plus the create's encoding field).
        const created = Math.min(this.liveBytes, this.nsCreateBytes.get(ns) ?? size + NS_CREATE_VALUE_SIZE);
        this.nsCreateBytes.delete(ns);
        this.liveBytes -= created;
        this.deadBytes += created;
        this.dropNamespaceKeys(ns);
        this.namespaces.delete(ns);
        this.nsEncodings.delete(ns);
        return 0;
      }
      case SEAL_KIND:
        // The opener of a sealed unit (encrypted, scheme 2): framing, -1 so the writer reports no result for it.
        this.deadBytes += size;
        return -1;
      default:
        // TX_BEGIN / TX_COMMIT frame a batch; they carry no key.
        this.deadBytes += size;
        return 0;
    }
  }

  /** Grows the index ahead of `more` inserts (a bulk batch), if they would not fit. */
  reserveKeys(more: number): void {
    const index = this.index;
    if (more <= 0) return;
    if (index.live + index.deleted + more > index.capacity * MAX_LOAD) this.replaceIndex(index.live + more);
    else if (this.purge && !this.purge.fits(more)) this.purge = IndexRebuild.start(index, index.live + more);
  }

  /** True while a tombstone purge is under way (the writer calls stepPurge between requests). */
  get purging(): boolean {
    return this.purge !== undefined;
  }

  /**
   * Copies the purge's next slots for about `budgetMs`; when the copy is
   * complete, the new table replaces the index (published by onIndexReplaced).
   * True when more steps are needed. `chunk`: slots copied between clock reads (tests take small ones).
   */
  stepPurge(budgetMs: number, chunk?: number): boolean {
    const purge = this.purge;
    if (!purge) return false;
    if (!purge.step(budgetMs, chunk)) return true;
    this.purge = undefined;
    this.index = purge.to;
    this.onIndexReplaced?.();
    return false;
  }

  /** The namespace id of `name`, or -1. */
  namespaceId(name: string): number {
    for (const [id, n] of this.namespaces) if (n === name) return id;
    return -1;
  }

  /** Deletes every key of a namespace (clear / drop). */
  dropNamespaceKeys(ns: number): void {
    this.counts.delete(ns);
    // It deletes in every slot anyway; a purge under way would have to repeat each of them: start it afresh after.
    this.purge = undefined;
    this.index.removeWhere((lsn) => {
      const off = this.mirror.recordAt(lsn);
      if (recordNamespace(this.mirror.recDv, off) !== ns) return false;
      this.sorted?.removeRecord(this.mirror, lsn);
      this.retire(lsn);
      return true;
    });
    this.purgeIfDue();
  }

  /**
   * Deletes every key of namespace `ns` whose bytes start with `prefix` (a
   * PREFIX_DELETE record): a scan of the index, as CLEAR does. `prefix` is the
   * caller's own copy of the record's key. These are
   * exactly the keys present when the record is applied, live or at recovery.
   * Returns how many visible (unexpired) keys it removed, capped at 255 for the reply byte.
   */
  dropPrefixKeys(ns: number, prefix: Uint8Array): number {
    let removed = 0;
    let visible = 0;
    this.purge = undefined;
    this.index.removeWhere((lsn) => {
      const off = this.mirror.recordAt(lsn);
      const dv = this.mirror.recDv;
      if (recordNamespace(dv, off) !== ns) return false;
      if (recordKeyLen(dv, off) < prefix.length) return false;
      const keyStart = recordKeyStart(dv, off);
      const u8 = this.mirror.recU8;
      for (let i = 0; i < prefix.length; i++) if (u8[keyStart + i] !== prefix[i]) return false;
      this.sorted?.removeRecord(this.mirror, lsn);
      if (!this.expired(lsn)) visible++;
      this.retire(lsn);
      removed++;
      return true;
    });
    if (removed > 0) this.counts.set(ns, (this.counts.get(ns) ?? removed) - removed);
    this.purgeIfDue();
    return Math.min(visible, 255);
  }

  /** True when the record at `lsn` has a deadline that has passed by the database clock. */
  expired(lsn: number): boolean {
    const off = this.mirror.recordAt(lsn);
    const expiresAt = recordExpiresAt(this.mirror.recDv, off);
    return expiresAt !== 0 && expiresAt <= this.now();
  }

  /** True when the index still maps the key of the record at `lsn` to that record (its deadline entry is valid). */
  isCurrent(lsn: number): boolean {
    const off = this.mirror.recordAt(lsn);
    const dv = this.mirror.recDv;
    const ns = recordNamespace(dv, off);
    const keyStart = recordKeyStart(dv, off);
    const keyLen = recordKeyLen(dv, off);
    const u8 = this.mirror.recU8;
    return this.index.find(this.mirror, ns, u8, keyStart, keyLen, hashKey(ns, u8, keyStart, keyLen)) === lsn;
  }

  /**
   * Keys whose deadline passed by `now` and that no sweep has removed yet, in
   * namespace `ns` (every namespace: expiredPending). Costs the number of
   * passed deadlines (the sweep keeps that small), not the number of keys.
   */
  expiredCount(ns: number, now: number): number {
    let n = 0;
    this.deadlines.forEachPassed(now, (lsn) => {
      const off = this.mirror.recordAt(lsn);
      if (recordNamespace(this.mirror.recDv, off) === ns && this.isCurrent(lsn)) n++;
    });
    return n;
  }

  /**
   * The keys whose deadline passed by `now` that no sweep has removed yet, and
   * their records' bytes: invisible to every read, so stats() counts them as
   * dead and a compaction drops them (one pass over the passed deadlines).
   */
  expiredPending(now: number): { count: number; bytes: number } {
    let count = 0;
    let bytes = 0;
    this.deadlines.forEachPassed(now, (lsn) => {
      if (!this.isCurrent(lsn)) return;
      count++;
      bytes += this.recordSize(lsn);
    });
    return { count, bytes };
  }

  private addDeadline(expiresAt: number, lsn: number): void {
    this.deadlines.push(expiresAt, lsn);
    this.ttlLive++;
    if (this.deadlines.size > 2 * this.ttlLive + HEAP_SLACK) {
      this.deadlines.retain((entry) => this.isCurrent(entry));
      this.ttlLive = this.deadlines.size;
    }
  }

  private retire(lsn: number): void {
    const off = this.mirror.recordAt(lsn);
    if (recordExpiresAt(this.mirror.recDv, off) !== 0) this.ttlLive--;
    const size = this.recordSize(lsn);
    this.liveBytes -= size;
    this.deadBytes += size;
  }

  /** Tombstones past a quarter of the table: purge them (a rebuild without them, sized for the live keys). */
  private purgeIfDue(): void {
    if (this.purge || this.index.deleted <= this.index.capacity / 4) return;
    if (this.incrementalPurge) this.purge = IndexRebuild.start(this.index, this.index.live);
    else this.replaceIndex(this.index.live);
  }

  /**
   * Replaces the index with a copy of itself, unpublished: the page cache
   * taking over a log while open (WriterEngine.frameIfGrown) leaves the old
   * buffer set a frozen pair (this index as it is now, and the whole-log
   * mirror), so a reader still on it never meets an LSN its mirror lacks.
   * The caller publishes; a purge under way is dropped (the copy has no
   * tombstones).
   */
  detachIndex(): void {
    this.purge = undefined;
    this.index = this.index.rebuild(this.index.live);
  }

  /** A synchronous rebuild (growth, or a purge during recovery); it supersedes a purge under way. */
  private replaceIndex(minLive: number): void {
    this.purge = undefined;
    this.index = this.index.rebuild(minLive);
    this.onIndexReplaced?.();
  }
}
