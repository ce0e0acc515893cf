/**
 * Where a compaction moved the old log's records (writer/compaction-job.ts):
 * runs of adjacent records, old LSN [from, from + len) now at new LSN
 * [to, to + len), in increasing order of both (the walk and the catch-up go
 * forward in both logs). With the page cache the new log is not in memory
 * (shm/staged-log.ts), so relocating the sorted index by comparing each key
 * with its record would cost a pread per key inside the swap; with the moves
 * a key's new record is known, and the hash index confirms it without a read
 * (shm/sorted-build.ts, relocateSorted). A run costs 24 bytes; adjacent live
 * records share one, so a bulk-loaded log needs few.
 */
export class CompactionMoves {
  /** Triples (from, to, len); LSNs pass 2^32, so doubles. */
  private runs = new Float64Array(3 * 1024);
  private n = 0;

  add(from: number, to: number, len: number): void {
    const r = this.runs;
    const last = 3 * (this.n - 1);
    if (this.n > 0 && r[last]! + r[last + 2]! === from && r[last + 1]! + r[last + 2]! === to) {
      r[last + 2] = r[last + 2]! + len;
      return;
    }
    if (3 * (this.n + 1) > r.length) {
      const next = new Float64Array(r.length * 2);
      next.set(r);
      this.runs = next;
    }
    const at = 3 * this.n++;
    this.runs[at] = from;
    this.runs[at + 1] = to;
    this.runs[at + 2] = len;
  }

  /** The new LSN of the old record at `from`, or -1 when the compaction did not copy it. */
  newLsn(from: number): number {
    const r = this.runs;
    let lo = 0;
    let hi = this.n - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const start = r[3 * mid]!;
      if (from < start) hi = mid - 1;
      else if (from >= start + r[3 * mid + 2]!) lo = mid + 1;
      else return r[3 * mid + 1]! + (from - start);
    }
    return -1;
  }
}
