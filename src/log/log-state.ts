import { RecordKind } from '../format/constants.js';
import { frameSize, nsCreateEncoding } from '../format/record.js';
import { recordKeyLen, recordKeyStart, recordKind, recordNamespace } from '../format/record-fields.js';
import { hashKey } from '../shm/hash.js';
import { IndexWriter } from '../shm/index-table.js';
import { MAX_LOAD, segmentOf, segmentOffset } from '../shm/layout.js';
import type { MirrorWriter } from '../shm/mirror.js';
import type { SortedIndexWriter } from '../shm/sorted-writer.js';

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
  /** Value encoding code each namespace was created with (format 3 NS_CREATE); absent = not recorded. */
  readonly nsEncodings = new Map<number, number>();
  nextNamespaceId = 1;
  /** Called after the index was replaced by a bigger or purged table (publish it). */
  onIndexReplaced: (() => void) | undefined;
  /** The sorted index (rangeScans: true): told of every key that becomes live or stops being live. */
  sorted: SortedIndexWriter | undefined;

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
        const hash = hashKey(ns, u8, keyStart, keyLen);
        const prev = this.index.upsert(this.mirror, ns, u8, keyStart, keyLen, hash, lsn);
        this.sorted?.put(ns, u8, keyStart, keyLen, lsn);
        this.liveBytes += size;
        if (prev < 0) {
          this.counts.set(ns, (this.counts.get(ns) ?? 0) + 1);
          return 0;
        }
        this.retire(prev);
        return 1;
      }
      case RecordKind.TOMBSTONE: {
        const hash = hashKey(ns, u8, keyStart, keyLen);
        const prev = this.index.remove(this.mirror, ns, u8, keyStart, keyLen, hash);
        this.deadBytes += size;
        if (prev < 0) return 0;
        this.sorted?.remove(ns, u8, keyStart, keyLen);
        this.retire(prev);
        this.counts.set(ns, (this.counts.get(ns) ?? 1) - 1);
        if (this.index.deleted > this.index.capacity / 4) this.replaceIndex(this.index.live);
        return 1;
      }
      case RecordKind.CLEAR:
        this.deadBytes += size;
        this.dropNamespaceKeys(ns);
        return 0;
      case RecordKind.PREFIX_DELETE:
        this.deadBytes += size;
        this.dropPrefixKeys(ns, u8.subarray(keyStart, keyStart + keyLen));
        return 0;
      case RecordKind.NS_CREATE: {
        this.namespaces.set(ns, Buffer.from(u8.buffer, u8.byteOffset + keyStart, keyLen).toString('utf8'));
        const encoding = nsCreateEncoding(dv, off);
        if (encoding !== 0) this.nsEncodings.set(ns, encoding);
        else this.nsEncodings.delete(ns);
        this.nextNamespaceId = Math.max(this.nextNamespaceId, ns + 1);
        this.liveBytes += size;
        return 0;
      }
      case RecordKind.NS_DROP:
        this.deadBytes += size;
        this.dropNamespaceKeys(ns);
        this.namespaces.delete(ns);
        this.nsEncodings.delete(ns);
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
      this.sorted?.removeRecord(this.mirror, lsn);
      this.retire(lsn);
      return true;
    });
    if (this.index.deleted > this.index.capacity / 4) this.replaceIndex(this.index.live);
  }

  /**
   * Deletes every key of namespace `ns` whose bytes start with `prefix` (a
   * PREFIX_DELETE record): a scan of the index, as CLEAR does. `prefix` points
   * into the mirror, which never changes below the applied LSN.
   */
  dropPrefixKeys(ns: number, prefix: Uint8Array): void {
    let removed = 0;
    this.index.removeWhere((lsn) => {
      const seg = segmentOf(lsn);
      const dv = this.mirror.dv[seg]!;
      const off = segmentOffset(lsn);
      if (recordNamespace(dv, off) !== ns) return false;
      if (recordKeyLen(dv, off) < prefix.length) return false;
      const keyStart = recordKeyStart(dv, off);
      const u8 = this.mirror.u8[seg]!;
      for (let i = 0; i < prefix.length; i++) if (u8[keyStart + i] !== prefix[i]) return false;
      this.sorted?.removeRecord(this.mirror, lsn);
      this.retire(lsn);
      removed++;
      return true;
    });
    if (removed > 0) this.counts.set(ns, (this.counts.get(ns) ?? removed) - removed);
    if (this.index.deleted > this.index.capacity / 4) this.replaceIndex(this.index.live);
  }

  private retire(lsn: number): void {
    const size = this.recordSize(lsn);
    this.liveBytes -= size;
    this.deadBytes += size;
  }

  private replaceIndex(minLive: number): void {
    this.index = this.index.rebuild(minLive);
    this.onIndexReplaced?.();
  }
}
