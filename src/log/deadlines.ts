/**
 * The writer's upcoming record deadlines: a binary min-heap of (deadline, lsn)
 * pairs in two growable Float64Arrays (16 bytes an entry, no object per
 * entry). Every PUT with an expiry pushes its pair when it is applied (live,
 * at recovery, in compaction). Entries are never updated in place: a record
 * overwritten, removed, persisted or dropped leaves a stale entry, which the
 * owner (LogState) recognises because the index no longer points its key at
 * that lsn. Stale entries leave when their deadline passes (the sweep pops
 * them) or when the heap is rebuilt from the valid ones (`retain`), which
 * LogState does once stale entries outnumber live TTL records, so memory stays
 * proportional to the records that carry a TTL.
 */
export class DeadlineHeap {
  private deadlines: Float64Array;
  private lsns: Float64Array;
  size = 0;

  constructor(capacity = 64) {
    this.deadlines = new Float64Array(capacity);
    this.lsns = new Float64Array(capacity);
  }

  /** Bytes held by the heap's arrays (stats()). */
  get bytes(): number {
    return this.deadlines.byteLength + this.lsns.byteLength;
  }

  push(deadline: number, lsn: number): void {
    if (this.size === this.deadlines.length) this.grow(this.size * 2);
    let i = this.size++;
    const d = this.deadlines;
    const l = this.lsns;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (d[parent]! <= deadline) break;
      d[i] = d[parent]!;
      l[i] = l[parent]!;
      i = parent;
    }
    d[i] = deadline;
    l[i] = lsn;
  }

  /** The earliest deadline, or Infinity when empty. */
  peekDeadline(): number {
    return this.size === 0 ? Infinity : this.deadlines[0]!;
  }

  peekLsn(): number {
    return this.lsns[0]!;
  }

  /** Removes the earliest entry (call peek* first to read it). */
  pop(): void {
    const n = --this.size;
    if (n <= 0) {
      this.size = Math.max(n, 0);
      return;
    }
    // The last entry moves to the root and sinks into place among the remaining n.
    this.deadlines[0] = this.deadlines[n]!;
    this.lsns[0] = this.lsns[n]!;
    this.siftDown(0);
  }

  /**
   * Calls `fn(lsn)` for every entry whose deadline is <= `now`, without
   * removing any: a walk of the heap pruned at the first later deadline on
   * each path, so its cost is the number of passed entries, not the heap size.
   */
  forEachPassed(now: number, fn: (lsn: number) => void): void {
    if (this.size === 0 || this.deadlines[0]! > now) return;
    const stack = [0];
    const d = this.deadlines;
    while (stack.length > 0) {
      const i = stack.pop()!;
      fn(this.lsns[i]!);
      const a = 2 * i + 1;
      if (a < this.size && d[a]! <= now) stack.push(a);
      if (a + 1 < this.size && d[a + 1]! <= now) stack.push(a + 1);
    }
  }

  /** Keeps only the entries `keep` accepts and re-heapifies (O(n)). */
  retain(keep: (lsn: number, deadline: number) => boolean): void {
    let n = 0;
    for (let i = 0; i < this.size; i++) {
      const lsn = this.lsns[i]!;
      const deadline = this.deadlines[i]!;
      if (!keep(lsn, deadline)) continue;
      this.deadlines[n] = deadline;
      this.lsns[n] = lsn;
      n++;
    }
    this.size = n;
    for (let i = (n >> 1) - 1; i >= 0; i--) this.siftDown(i);
    if (this.deadlines.length > 64 && n < this.deadlines.length / 4) this.grow(Math.max(64, n * 2));
  }

  /** Every entry in heap order (the snapshot writes them as they are). */
  entries(): { deadlines: Float64Array; lsns: Float64Array } {
    return { deadlines: this.deadlines.subarray(0, this.size), lsns: this.lsns.subarray(0, this.size) };
  }

  /** Replaces the content with entries already in heap order (a loaded snapshot); re-heapifies to be safe. */
  load(deadlines: ArrayLike<number>, lsns: ArrayLike<number>): void {
    const n = deadlines.length;
    if (n > this.deadlines.length) this.grow(n);
    for (let i = 0; i < n; i++) {
      this.deadlines[i] = deadlines[i]!;
      this.lsns[i] = lsns[i]!;
    }
    this.size = n;
    for (let i = (n >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  private siftDown(start: number): void {
    const d = this.deadlines;
    const l = this.lsns;
    const n = this.size;
    const deadline = d[start]!;
    const lsn = l[start]!;
    let i = start;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && d[child + 1]! < d[child]!) child++;
      if (d[child]! >= deadline) break;
      d[i] = d[child]!;
      l[i] = l[child]!;
      i = child;
    }
    d[i] = deadline;
    l[i] = lsn;
  }

  private grow(capacity: number): void {
    const d = new Float64Array(capacity);
    const l = new Float64Array(capacity);
    d.set(this.deadlines.subarray(0, this.size));
    l.set(this.lsns.subarray(0, this.size));
    this.deadlines = d;
    this.lsns = l;
  }
}
