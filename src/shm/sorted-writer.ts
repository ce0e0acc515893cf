import { recordKeyLen, recordKeyStart, recordNamespace } from '../format/record-fields.js';
import {
  SORTED_ENTRY_HEADER_BYTES,
  SORTED_MAX_RUNS,
  SORTED_TAIL_HARD_FACTOR,
  SORTED_MERGE_RATIO,
  SORTED_TAIL_HEADER_BYTES,
  SORTED_TAIL_MAX_BYTES,
  SORTED_TAIL_MAX_ENTRIES,
  SORTED_TOMBSTONE_HI,
  SortedEntry,
  SortedTailHeader,
  sortedEntryBytes,
} from './layout.js';
import type { MirrorView } from './mirror.js';
import { testMutant } from '../mutants.js';
import { mergeToRun, newBufferId, RunMerger, runCount, runSource, sortTail, type SortedManifest, type SortedSource } from './sorted-run.js';
import { TailSortJob } from './sorted-tail-job.js';

const TWO_32 = 0x1_0000_0000;
/**
 * Test seam: a smaller tail (e.g. 8) makes short randomized tests go through
 * many run flushes and merges. Read once per writer thread.
 */
const TAIL_MAX = Number(process.env.EMDB_JS_SORTED_TAIL_MAX) > 0 ? Number(process.env.EMDB_JS_SORTED_TAIL_MAX) : SORTED_TAIL_MAX_ENTRIES;
/**
 * Longest step of a background merge, ms (the writer serves requests between
 * steps). Test seam: EMDB_JS_SORTED_MERGE_STEP_MS = 0 makes every step merge
 * about a thousand entries, so short tests go through merges in many steps.
 */
const MERGE_STEP_CAP_MS = process.env.EMDB_JS_SORTED_MERGE_STEP_MS !== undefined ? Number(process.env.EMDB_JS_SORTED_MERGE_STEP_MS) : 4;


export interface SnapshotLimits {
  maxAgeMs: number;
  maxPinnedBytes: number;
}

/**
 * Write side of the sorted index (rangeScans: true), owned by the writer
 * thread. Every applied PUT, and every removal of a live key, is appended to
 * the tail; `commit()` publishes the batch with one Atomics.store (rule S2).
 * A tail that has grown past SORTED_TAIL_MAX_ENTRIES is sorted into a new run
 * at the end of a batch, runs of similar size are merged (size-tiered, so a
 * key is copied O(log n) times), and the new run set is published as a new
 * buffer set (rule S1). Nothing here ever waits for a reader.
 */
export class SortedIndexWriter {
  runs: SharedArrayBuffer[];
  private counts: number[];
  private tail!: SharedArrayBuffer;
  private u8!: Uint8Array;
  private dv!: DataView;
  private i32!: Int32Array;
  /** Write cursor and entries written (published or not). */
  private bytes = SORTED_TAIL_HEADER_BYTES;
  private entries = 0;
  /** Compactions since open (SortedManifest.epoch). */
  epoch = 0;
  /**
   * The merge of two adjacent runs under way in steps (maintain()): the runs
   * stay published and read until the merged run replaces both at once. New
   * runs only ever go on top of them, so they stay adjacent, and whether
   * `older` is the oldest run (removals dropped) cannot change meanwhile.
   */
  private merging: { older: SharedArrayBuffer; newer: SharedArrayBuffer; merger: RunMerger } | undefined;
  /**
   * The current tail's first entries being sorted into a run in steps
   * (maintain()); dropped whenever the tail is replaced another way.
   */
  private tailJob: TailSortJob | undefined;
  /** Alternates maintain() between a tail job and a merge when both wait. */
  private mergeTurn = false;

  constructor(
    runs: SharedArrayBuffer[],
    readonly limits: SnapshotLimits,
  ) {
    this.runs = runs;
    this.counts = runs.map(runCount);
    this.newTail();
  }

  manifest(): SortedManifest {
    return { runs: [...this.runs], tail: this.tail, ...this.limits, epoch: this.epoch };
  }

  /** Entries in the tail (none right after collapse()). */
  get tailEntries(): number {
    return this.entries;
  }

  /** Entries in runs and tail (tombstones and shadowed versions included): the index's size. */
  get entryCount(): number {
    return this.counts.reduce((a, b) => a + b, 0) + this.entries;
  }

  /** Bytes of the published buffers (stats, bench: bytes per key). */
  get byteLength(): number {
    return this.runs.reduce((a, r) => a + r.byteLength, 0) + this.bytes;
  }

  stats(): { entries: number; runs: number; tail: number; bytes: number } {
    return { entries: this.entryCount, runs: this.runs.length, tail: this.entries, bytes: this.byteLength };
  }

  put(ns: number, key: Uint8Array, start: number, len: number, lsn: number): void {
    this.add(ns, key, start, len, lsn >>> 0, Math.floor(lsn / TWO_32));
  }

  remove(ns: number, key: Uint8Array, start: number, len: number): void {
    if (testMutant.name === 'drop-removals') return;
    this.add(ns, key, start, len, 0, SORTED_TOMBSTONE_HI);
  }

  /** Records the removal of the key of the record at `lsn` (clear / drop of its namespace). */
  removeRecord(mirror: MirrorView, lsn: number): void {
    const off = mirror.recordAt(lsn);
    const dv = mirror.recDv;
    const keyStart = recordKeyStart(dv, off);
    this.remove(recordNamespace(dv, off), mirror.recU8, keyStart, recordKeyLen(dv, off));
  }

  /**
   * End of a write batch: publishes the entries appended since the last commit
   * (one Atomics.store, rule S2). Returns true when the run set changed, i.e.
   * the caller must publish a new buffer set.
   */
  commit(): boolean {
    Atomics.store(this.i32, SortedTailHeader.COUNT, this.entries);
    // Sorting the tail and merging runs wait for the writer's idle time (maintain()), within bounds:
    // entries a tail sort under way covers count as sorted, since readers get them as a run soon.
    const unsorted = this.entries - (this.tailJob?.count ?? 0);
    if (unsorted < TAIL_MAX * SORTED_TAIL_HARD_FACTOR && this.runs.length <= SORTED_MAX_RUNS) return false;
    if (this.entries >= TAIL_MAX) this.flushTail();
    while (this.runs.length > SORTED_MAX_RUNS) this.mergeStep();
    return true;
  }

  /** Work for maintain(): a full tail to sort, or runs to merge. */
  needsMaintenance(): boolean {
    return this.tailJob !== undefined || this.merging !== undefined || this.entries >= TAIL_MAX || this.needsMerge();
  }

  /**
   * One step of background work, between write batches: go on sorting a full
   * tail into a run, or merging two runs, until `deadline` (performance.now())
   * or a few ms, so no write waits behind a whole sort of a bulk-loaded tail
   * or a whole merge of large runs. True when the run set changed (the caller
   * publishes it).
   */
  maintain(deadline = Infinity): boolean {
    let tailStep = this.tailJob !== undefined || this.entries >= TAIL_MAX;
    if (tailStep && (this.merging !== undefined || this.needsMerge())) {
      // Under steady writes a tail job is nearly always under way: merges take every other step,
      // or runs would pile up past SORTED_MAX_RUNS and every commit would merge at once.
      this.mergeTurn = !this.mergeTurn;
      tailStep = !this.mergeTurn;
    }
    if (tailStep) {
      // Removals are dropped only from the oldest run; no run appears meanwhile without dropping the job.
      const job = (this.tailJob ??= new TailSortJob(this.u8, this.dv, this.entries, this.runs.length === 0));
      const run = job.step(Math.min(deadline, performance.now() + MERGE_STEP_CAP_MS));
      if (run === undefined) return false;
      this.publishTailRun(job, run);
      return true;
    }
    if (this.merging === undefined) {
      const i = this.pickPair(true);
      if (i < 0) return false;
      const older = this.runs[i]!;
      const newer = this.runs[i + 1]!;
      this.merging = { older, newer, merger: new RunMerger([runSource(newer), runSource(older)], i === 0) };
    }
    return this.continueMerge(deadline);
  }

  /** Steps the merge under way; when it is done, its run replaces the two it merged. */
  private continueMerge(deadline: number): boolean {
    const job = this.merging!;
    if (!job.merger.step(Math.min(deadline, performance.now() + MERGE_STEP_CAP_MS))) return false;
    this.merging = undefined;
    const at = this.runs.indexOf(job.older);
    if (at < 0 || this.runs[at + 1] !== job.newer) return false;
    const run = job.merger.result();
    this.runs.splice(at, 2, run);
    this.counts.splice(at, 2, runCount(run));
    return true;
  }

  /** True while two adjacent runs are of similar size (the newer holds at least 1/SORTED_MERGE_RATIO of the older). */
  needsMerge(): boolean {
    return this.pickPair(true) >= 0;
  }

  /**
   * The adjacent runs i (older) and i + 1 (newer) that cost least to merge
   * (fewest entries), leaving out the two a merge under way holds; with
   * `tiering`, only a pair of similar size (size-tiered: a key is copied
   * O(log n) times). -1 when there is none. Any adjacent pair may merge: the
   * merged run takes their place, so newer runs still shadow older ones.
   */
  private pickPair(tiering: boolean): number {
    const c = this.counts;
    const job = this.merging;
    let best = -1;
    let cost = Infinity;
    for (let i = 0; i + 1 < c.length; i++) {
      if (job && (this.runs[i] === job.newer || this.runs[i + 1] === job.older || this.runs[i] === job.older)) continue;
      if (tiering && c[i + 1]! * SORTED_MERGE_RATIO < c[i]!) continue;
      if (c[i]! + c[i + 1]! < cost) {
        cost = c[i]! + c[i + 1]!;
        best = i;
      }
    }
    return best;
  }

  /** Sorts the (committed) tail into a new run and starts a new tail. */
  private flushTail(): void {
    this.pushRun(mergeToRun([sortTail(this.u8, this.dv, this.entries).src], this.runs.length === 0));
    this.newTail();
  }

  /**
   * Removes one run now, inside a write batch (too many runs for readers to
   * merge cheaply): merges the cheapest adjacent pair (removals dropped when
   * nothing is older), or, when only the pair of the merge under way is left,
   * finishes that merge.
   */
  mergeStep(): void {
    const i = this.pickPair(false);
    if (i < 0) {
      this.continueMerge(Infinity);
      return;
    }
    const run = mergeToRun([runSource(this.runs[i + 1]!), runSource(this.runs[i]!)], i === 0);
    this.runs.splice(i, 2, run);
    this.counts.splice(i, 2, runCount(run));
  }

  /** Every entry merged into one run without removals: what a snapshot file persists and compaction remaps. */
  mergedSources(): SortedSource[] {
    const sources: SortedSource[] = [];
    if (this.entries > 0) sources.push(sortTail(this.u8, this.dv, this.entries).src);
    for (let i = this.runs.length - 1; i >= 0; i--) sources.push(runSource(this.runs[i]!));
    return sources;
  }

  /** Collapses runs and tail into one run (checkpoint). True when the run set changed (publish it). */
  collapse(): boolean {
    if (this.runs.length === 1 && this.entries === 0) return false;
    const run = mergeToRun(this.mergedSources(), true);
    // A merge under way covered runs this one replaces.
    this.merging = undefined;
    this.runs = [];
    this.counts = [];
    this.pushRun(run);
    this.newTail();
    return true;
  }

  /** Sorts the tail into a standalone run (no removals) and starts a new tail: a pass of a bulk build. */
  sealTail(): SharedArrayBuffer {
    const run = mergeToRun([sortTail(this.u8, this.dv, this.entries).src], true);
    this.newTail();
    return run;
  }

  /**
   * A finished tail job's run goes on top, and a new tail takes the entries
   * appended since the job started, published up to the old tail's published
   * count (rule S2), so readers see the same entries, only sorted.
   */
  private publishTailRun(job: TailSortJob, run: SharedArrayBuffer): void {
    const old = this.u8;
    const oldEnd = this.bytes;
    const rest = this.entries - job.count;
    const published = Atomics.load(this.i32, SortedTailHeader.COUNT) - job.count;
    this.pushRun(run);
    this.newTail();
    if (rest === 0 || testMutant.name === 'tail-job-drops-rest') return;
    const need = SORTED_TAIL_HEADER_BYTES + oldEnd - job.end;
    if (need > this.u8.length) this.grow(need);
    this.u8.set(old.subarray(job.end, oldEnd), SORTED_TAIL_HEADER_BYTES);
    this.bytes = need;
    this.entries = rest;
    Atomics.store(this.i32, SortedTailHeader.COUNT, published);
  }

  private pushRun(run: SharedArrayBuffer): void {
    this.runs.push(run);
    this.counts.push(runCount(run));
  }

  private add(ns: number, key: Uint8Array, start: number, len: number, lo: number, hi: number): void {
    const size = sortedEntryBytes(len);
    if (this.bytes + size > this.u8.length) this.grow(this.bytes + size);
    const at = this.bytes;
    const dv = this.dv;
    dv.setUint32(at + SortedEntry.NS, ns, true);
    dv.setUint32(at + SortedEntry.KEY_LEN, len, true);
    dv.setUint32(at + SortedEntry.LSN_LO, lo, true);
    dv.setUint32(at + SortedEntry.LSN_HI, hi, true);
    const u8 = this.u8;
    const to = at + SORTED_ENTRY_HEADER_BYTES;
    // Short keys: a byte loop beats creating a subarray per put.
    if (len <= 64) for (let i = 0; i < len; i++) u8[to + i] = key[start + i]!;
    else u8.set(key.subarray(start, start + len), to);
    this.bytes = at + size;
    this.entries++;
  }

  /** In place: readers see the longer buffer when they next make views of it; nothing is republished. */
  private grow(need: number): void {
    if (need > SORTED_TAIL_MAX_BYTES) throw new RangeError('one write batch is too large for the sorted index tail');
    this.tail.grow(Math.min(SORTED_TAIL_MAX_BYTES, Math.max(need, this.tail.byteLength * 2)));
    this.views();
  }

  private newTail(): void {
    this.tailJob = undefined;
    this.tail = new SharedArrayBuffer(64 << 10, { maxByteLength: SORTED_TAIL_MAX_BYTES });
    this.bytes = SORTED_TAIL_HEADER_BYTES;
    this.entries = 0;
    this.views();
    Atomics.store(this.i32, SortedTailHeader.ID, newBufferId());
  }

  private views(): void {
    const len = this.tail.byteLength;
    this.u8 = new Uint8Array(this.tail, 0, len);
    this.dv = new DataView(this.tail, 0, len);
    this.i32 = new Int32Array(this.tail, 0, SORTED_TAIL_HEADER_BYTES / 4);
  }
}
