import { RecordKind } from '../format/constants.js';
import { frameSize } from '../format/record.js';
import { PREFIX_DELETE_KIND, prefixMatches } from '../format/prefix-delete.js';
import { recordExpiresAt, recordKeyLen, recordKeyStart, recordKind, recordNamespace } from '../format/record-fields.js';
import { hashKey } from '../shm/hash.js';
import { IndexWriter } from '../shm/index-table.js';
import { MAX_LOAD, segmentOf, segmentOffset } from '../shm/layout.js';
import type { MirrorWriter } from '../shm/mirror.js';
import { DeadlineHeap } from './deadlines.js';

/** The deadline heap is rebuilt from its valid entries once it holds this many more than twice the live TTL records. */
const HEAP_SLACK = 4096;

/**
 * What the log means, kept by the writer: the shared index, the mirror, the
 * namespace catalogue and byte accounting. Recovery and live appends both go
 * through `apply`, so a reopened database is the same state as before the crash.
 */
export class LogState {
  liveBytes = 0;
  deadBytes = 0;
  readonly namespaces = new Map<number, string>();
  /** Live keys per namespace id (len() of a namespace, without a scan). */
  readonly counts = new Map<number, number>();
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

  constructor(
    public index: IndexWriter,
    readonly mirror: MirrorWriter,
  ) {}

  /** Size in bytes of the record at `lsn` (already in the mirror). */
  recordSize(lsn: number): number {
    return frameSize(this.mirror.dvAt(lsn), segmentOffset(lsn));
  }

  /**
   * Applies the record at `lsn` to the index. Returns 1 when a PUT or TOMBSTONE
   * found the key already present, else 0 (remove() reports it as its result).
   */
  apply(lsn: number): number {
    const seg = segmentOf(lsn);
    const u8 = this.mirror.u8[seg]!;
    const dv = this.mirror.dv[seg]!;
    const off = segmentOffset(lsn);
    const kind = recordKind(dv, off);
    const ns = recordNamespace(dv, off);
    const keyLen = recordKeyLen(dv, off);
    const size = frameSize(dv, off);
    const keyStart = recordKeyStart(dv, off);
    if ((kind === RecordKind.PUT || kind === RecordKind.TOMBSTONE || kind === RecordKind.CLEAR) && ns !== 0 && !this.namespaces.has(ns)) {
      // Written with the id of a namespace dropped meanwhile (a transaction staged
      // into it, an attached thread held it): never data. Compaction forgets
      // dropped ids and reuses them, so such a record must not reach the index.
      this.deadBytes += size;
      return 0;
    }
    switch (kind) {
      case RecordKind.PUT: {
        if (this.index.full()) this.replaceIndex(this.index.live + 1);
        const hash = hashKey(ns, u8, keyStart, keyLen);
        const prev = this.index.upsert(this.mirror, ns, u8, keyStart, keyLen, hash, lsn);
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
        // A removal of a key whose deadline passed reports false (it was invisible), but still removes it.
        const visible = !this.expired(prev);
        this.retire(prev);
        this.counts.set(ns, (this.counts.get(ns) ?? 1) - 1);
        if (this.index.deleted > this.index.capacity / 4) this.replaceIndex(this.index.live);
        return visible ? 1 : 0;
      }
      case PREFIX_DELETE_KIND:
        this.deadBytes += size;
        return this.dropPrefix(ns, u8, keyStart, keyLen);
      case RecordKind.CLEAR:
        this.deadBytes += size;
        this.dropNamespaceKeys(ns);
        return 0;
      case RecordKind.NS_CREATE:
        this.namespaces.set(ns, Buffer.from(u8.buffer, u8.byteOffset + keyStart, keyLen).toString('utf8'));
        this.nextNamespaceId = Math.max(this.nextNamespaceId, ns + 1);
        this.liveBytes += size;
        return 0;
      case RecordKind.NS_DROP:
        this.deadBytes += size;
        this.dropNamespaceKeys(ns);
        this.namespaces.delete(ns);
        return 0;
      default:
        // TX_BEGIN / TX_COMMIT frame a batch; they carry no key.
        this.deadBytes += size;
        return 0;
    }
  }

  /** Grows the index ahead of `more` inserts (a bulk batch), if they would not fit. */
  reserveKeys(more: number): void {
    const index = this.index;
    if (more > 0 && index.live + index.deleted + more > index.capacity * MAX_LOAD) this.replaceIndex(index.live + more);
  }

  /** The namespace id of `name`, or -1. */
  namespaceId(name: string): number {
    for (const [id, n] of this.namespaces) if (n === name) return id;
    return -1;
  }

  /** Deletes every key of a namespace (clear / drop). */
  dropNamespaceKeys(ns: number): void {
    this.counts.delete(ns);
    this.index.removeWhere((lsn) => {
      if (recordNamespace(this.mirror.dvAt(lsn), segmentOffset(lsn)) !== ns) return false;
      this.retire(lsn);
      return true;
    });
    if (this.index.deleted > this.index.capacity / 4) this.replaceIndex(this.index.live);
  }

  /**
   * A prefix-delete record (format/prefix-delete.ts): removes every key of
   * namespace `ns` whose bytes start with the record's key, i.e. exactly the
   * keys present when it is applied, live or at recovery. Scans the table
   * (cost proportional to the index, not the group; see DESIGN.md, "Nested keys").
   * Returns how many visible keys it removed, capped at 255 for the reply byte.
   */
  private dropPrefix(ns: number, u8: Uint8Array, prefixStart: number, prefixLen: number): number {
    const prefix = u8.slice(prefixStart, prefixStart + prefixLen);
    let removed = 0;
    let visible = 0;
    this.index.removeWhere((lsn) => {
      const dv = this.mirror.dvAt(lsn);
      const off = segmentOffset(lsn);
      if (recordNamespace(dv, off) !== ns) return false;
      if (!prefixMatches(this.mirror.u8[segmentOf(lsn)]!, recordKeyStart(dv, off), recordKeyLen(dv, off), prefix)) return false;
      if (!this.expired(lsn)) visible++;
      this.retire(lsn);
      removed++;
      return true;
    });
    if (removed > 0) this.counts.set(ns, (this.counts.get(ns) ?? removed) - removed);
    if (this.index.deleted > this.index.capacity / 4) this.replaceIndex(this.index.live);
    return Math.min(visible, 255);
  }

  /** True when the record at `lsn` has a deadline that has passed by the database clock. */
  expired(lsn: number): boolean {
    const expiresAt = recordExpiresAt(this.mirror.dvAt(lsn), segmentOffset(lsn));
    return expiresAt !== 0 && expiresAt <= this.now();
  }

  /** True when the index still maps the key of the record at `lsn` to that record (its deadline entry is valid). */
  isCurrent(lsn: number): boolean {
    const seg = segmentOf(lsn);
    const dv = this.mirror.dv[seg]!;
    const off = segmentOffset(lsn);
    const ns = recordNamespace(dv, off);
    const keyStart = recordKeyStart(dv, off);
    const keyLen = recordKeyLen(dv, off);
    const u8 = this.mirror.u8[seg]!;
    return this.index.find(this.mirror, ns, u8, keyStart, keyLen, hashKey(ns, u8, keyStart, keyLen)) === lsn;
  }

  /**
   * Keys whose deadline passed by `now` and that no sweep has removed yet, in
   * namespace `ns` (or every namespace when `ns` is -1). Costs the number of
   * passed deadlines (the sweep keeps that small), not the number of keys.
   */
  expiredCount(ns: number, now: number): number {
    let n = 0;
    this.deadlines.forEachPassed(now, (lsn) => {
      if ((ns < 0 || recordNamespace(this.mirror.dvAt(lsn), segmentOffset(lsn)) === ns) && this.isCurrent(lsn)) n++;
    });
    return n;
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
    if (recordExpiresAt(this.mirror.dvAt(lsn), segmentOffset(lsn)) !== 0) this.ttlLive--;
    const size = this.recordSize(lsn);
    this.liveBytes -= size;
    this.deadBytes += size;
  }

  private replaceIndex(minLive: number): void {
    this.index = this.index.rebuild(minLive);
    this.onIndexReplaced?.();
  }
}
