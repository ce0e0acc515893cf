import { EmdbError, ErrorCode } from '../errors.js';
import {
  capacityFor,
  IndexHeader,
  MAX_LOAD,
  SLOT_BASE_WORDS,
  SLOT_WORDS,
  SlotWord,
  TAG_DELETED,
  TAG_EMPTY,
  indexBytes,
  tagOf,
} from './layout.js';
import { lsnHi, lsnLo, lsnOf } from './mirror.js';

/** What a probe compares keys against: the mirror today, the frame pool (frame-records.ts) next. */
export interface KeySource {
  /** True when the record at `lsn` belongs to `namespace` and its key equals bytes[start, start + len). */
  keyEquals(lsn: number, namespace: number, bytes: Uint8Array, start: number, len: number): boolean;
}

/**
 * A KeySource that accepts one LSN only: a probe through it finds `lsn`
 * exactly when the index maps that record's key to it, without reading the
 * key (the slot holding `lsn` has the record's hash as its tag, and the index
 * holds a key once). For a record whose key the caller has in hand: the
 * sorted index relocated after compaction, or rebuilt in log order.
 */
export class ExactLsn implements KeySource {
  lsn = -1;

  keyEquals(lsn: number): boolean {
    return lsn === this.lsn;
  }
}

/**
 * A writer holds a slot's seqlock for four stores. One that held it for this long
 * has died: fail instead of spinning forever. Time, not a spin count: on a loaded
 * machine a live writer can be descheduled mid-slot for tens of milliseconds,
 * which a fixed count of spins (~0.1 s) could mistake for death.
 */
const DEAD_WRITER_MS = 1_000;
/** Spins between two clock reads while a slot stays locked (a power of two). */
const SPINS_PER_CLOCK_READ = 1 << 20;

/** Reads that had to retry a slot because the writer was changing it (diagnostics). */
export const seqlockStats = { retries: 0 };

/**
 * Read side of the shared open-addressed table (layout.ts, rules R1/R2/R5).
 * Any thread may probe; none keeps a private copy.
 */
export class IndexView {
  readonly i32: Int32Array;
  readonly capacity: number;
  readonly mask: number;

  constructor(readonly buffer: SharedArrayBuffer) {
    this.i32 = new Int32Array(buffer);
    this.capacity = this.i32[IndexHeader.CAPACITY]!;
    this.mask = this.i32[IndexHeader.MASK]!;
  }

  /** LSN held by the slot of the last readSlot() (a field, not a returned object: this runs on every probe). */
  slotLsn = 0;

  /**
   * Reads slot `slot` under its seqlock (rule R2): retries while the writer is
   * mid-update, and fails with ERR_EMDB_IO when a writer stalled mid-slot
   * (died) instead of spinning forever. Returns the tag; the LSN is in slotLsn.
   * Every reader of the table (lookups, iteration) goes through here.
   */
  readSlot(slot: number): number {
    const i32 = this.i32;
    const base = SLOT_BASE_WORDS + slot * SLOT_WORDS;
    let spins = 0;
    let lockedSince = -1;
    for (;;) {
      const s1 = Atomics.load(i32, base + SlotWord.SEQ);
      if ((s1 & 1) === 0) {
        const tag = Atomics.load(i32, base + SlotWord.TAG);
        const lo = Atomics.load(i32, base + SlotWord.LSN_LO);
        const hi = Atomics.load(i32, base + SlotWord.LSN_HI);
        if (Atomics.load(i32, base + SlotWord.SEQ) === s1) {
          this.slotLsn = lsnOf(lo, hi);
          return tag;
        }
      }
      seqlockStats.retries++;
      if ((++spins & (SPINS_PER_CLOCK_READ - 1)) === 0) {
        const now = performance.now();
        if (lockedSince < 0) lockedSince = now;
        else if (now - lockedSince > DEAD_WRITER_MS) throw new EmdbError(ErrorCode.IO, 'index slot left locked by a dead writer');
      }
    }
  }

  /**
   * LSN of the live record for (namespace, key), or -1.
   *
   * The seqlock read of readSlot is inlined for the common case, and a slot
   * whose tag is not ours is left after two loads instead of five (rule R2a in
   * layout.ts): SEQ then TAG, and only a slot carrying our tag goes on to the
   * LSN words and the closing SEQ load. Atomics.load is a builtin call on Node 20
   * (~12 ns each, docs/DESIGN.md "getSync hit path"), so the loads are the cost.
   */
  find(mirror: KeySource, namespace: number, key: Uint8Array, start: number, len: number, hash: number): number {
    const i32 = this.i32;
    const mask = this.mask;
    const tag = tagOf(hash);
    let slot = tag & mask;
    for (let probes = 0; probes < this.capacity; probes++) {
      const base = SLOT_BASE_WORDS + slot * SLOT_WORDS;
      const s1 = Atomics.load(i32, base + SlotWord.SEQ);
      const t = Atomics.load(i32, base + SlotWord.TAG);
      if (t === TAG_EMPTY) return -1;
      if (t === tag) {
        // R2: the three words between two equal, even SEQ loads are one snapshot.
        const lo = Atomics.load(i32, base + SlotWord.LSN_LO);
        const hi = Atomics.load(i32, base + SlotWord.LSN_HI);
        let lsn: number;
        if ((s1 & 1) === 0 && Atomics.load(i32, base + SlotWord.SEQ) === s1) {
          lsn = lsnOf(lo, hi);
        } else {
          // The writer was changing this slot: the retrying read decides.
          const again = this.readSlot(slot);
          if (again === TAG_EMPTY) return -1;
          lsn = again === tag ? this.slotLsn : -1;
        }
        if (lsn >= 0 && mirror.keyEquals(lsn, namespace, key, start, len)) return lsn;
      }
      slot = (slot + 1) & mask;
    }
    return -1;
  }
}

/**
 * Write side: only the writer thread holds one. Entries never move inside a
 * published table; deletion leaves a DELETED tag that probes walk past, and a
 * rebuild into a fresh buffer (published by generation, R4) purges them.
 */
export class IndexWriter extends IndexView {
  live = 0;
  deleted = 0;
  /** Slot written by the last upsert() or successful remove() (an incremental rebuild mirrors the write when that slot was already copied). */
  lastSlot = -1;

  static allocate(capacity: number): IndexWriter {
    if (capacity < 2 || (capacity & (capacity - 1)) !== 0) throw new RangeError('capacity must be a power of two');
    const sab = new SharedArrayBuffer(indexBytes(capacity));
    const i32 = new Int32Array(sab);
    i32[IndexHeader.CAPACITY] = capacity;
    i32[IndexHeader.MASK] = capacity - 1;
    return new IndexWriter(sab);
  }

  /** True when one more insert would pass the load limit. */
  full(): boolean {
    return this.live + this.deleted + 1 > this.capacity * MAX_LOAD;
  }

  /**
   * Points (namespace, key) at `lsn`; the key bytes are compared against the
   * records already in the mirror. Returns the previous LSN or -1 when new.
   */
  upsert(mirror: KeySource, namespace: number, key: Uint8Array, start: number, len: number, hash: number, lsn: number): number {
    const i32 = this.i32;
    const tag = tagOf(hash);
    let slot = tag & this.mask;
    let reuse = -1;
    for (let probes = 0; probes < this.capacity; probes++) {
      const base = SLOT_BASE_WORDS + slot * SLOT_WORDS;
      const t = i32[base + SlotWord.TAG]!;
      if (t === TAG_EMPTY) break;
      if (t === TAG_DELETED) {
        if (reuse < 0) reuse = base;
      } else if (t === tag) {
        const old = lsnOf(i32[base + SlotWord.LSN_LO]!, i32[base + SlotWord.LSN_HI]!);
        if (mirror.keyEquals(old, namespace, key, start, len)) {
          this.publish(base, tag, lsn);
          this.lastSlot = slot;
          return old;
        }
      }
      slot = (slot + 1) & this.mask;
    }
    if (reuse >= 0) {
      this.deleted--;
    } else {
      reuse = SLOT_BASE_WORDS + slot * SLOT_WORDS;
      if (i32[reuse + SlotWord.TAG] !== TAG_EMPTY) throw new EmdbError(ErrorCode.IO, 'index table is full');
    }
    this.publish(reuse, tag, lsn);
    this.lastSlot = (reuse - SLOT_BASE_WORDS) / SLOT_WORDS;
    this.live++;
    return -1;
  }

  /** Marks (namespace, key) deleted. Returns the removed LSN or -1. */
  remove(mirror: KeySource, namespace: number, key: Uint8Array, start: number, len: number, hash: number): number {
    const i32 = this.i32;
    const tag = tagOf(hash);
    let slot = tag & this.mask;
    for (let probes = 0; probes < this.capacity; probes++) {
      const base = SLOT_BASE_WORDS + slot * SLOT_WORDS;
      const t = i32[base + SlotWord.TAG]!;
      if (t === TAG_EMPTY) return -1;
      if (t === tag) {
        const old = lsnOf(i32[base + SlotWord.LSN_LO]!, i32[base + SlotWord.LSN_HI]!);
        if (mirror.keyEquals(old, namespace, key, start, len)) {
          this.publish(base, TAG_DELETED, 0);
          this.lastSlot = slot;
          this.live--;
          this.deleted++;
          return old;
        }
      }
      slot = (slot + 1) & this.mask;
    }
    return -1;
  }

  /** Deletes every live entry for which `drop(lsn)` is true; returns how many. */
  removeWhere(drop: (lsn: number) => boolean): number {
    let n = 0;
    this.forEachLive((lsn, base) => {
      if (drop(lsn)) {
        this.publish(base, TAG_DELETED, 0);
        this.live--;
        this.deleted++;
        n++;
      }
    });
    return n;
  }

  /** Calls `fn` for every live entry in slots [from, to) (default: the whole table). */
  forEachLive(fn: (lsn: number, slotBase: number, tag: number) => void, from = 0, to = this.capacity): void {
    const i32 = this.i32;
    for (let slot = from; slot < Math.min(to, this.capacity); slot++) {
      const base = SLOT_BASE_WORDS + slot * SLOT_WORDS;
      const t = i32[base + SlotWord.TAG]!;
      if (t !== TAG_EMPTY && t !== TAG_DELETED) {
        fn(lsnOf(i32[base + SlotWord.LSN_LO]!, i32[base + SlotWord.LSN_HI]!), base, t);
      }
    }
  }

  /**
   * A new table holding every live entry, sized for `minLive` keys at ≤ 50% load.
   * Synchronous, O(capacity): growth, and recovery (no other request waits on it);
   * the live writer purges tombstones incrementally (index-rebuild.ts).
   */
  rebuild(minLive: number): IndexWriter {
    const next = IndexWriter.allocate(capacityFor(Math.max(minLive, this.live + 1)));
    this.copyLiveInto(next, 0, this.capacity);
    return next;
  }

  /**
   * Copies the live entries of slots [from, to) into `next`, an unpublished
   * table that holds none of them yet (so no key comparison is needed; tags are
   * full hashes, so the home slot is recomputed from the tag). Plain stores:
   * no thread sees `next` before it is published (R4). Returns how many.
   */
  copyLiveInto(next: IndexWriter, from: number, to: number): number {
    const src = this.i32;
    const dst = next.i32;
    const mask = next.mask;
    let copied = 0;
    // Inline loop, no callbacks: this runs over every slot of the table.
    for (let slot = from; slot < to; slot++) {
      const at = SLOT_BASE_WORDS + slot * SLOT_WORDS;
      const tag = src[at + SlotWord.TAG]!;
      if (tag === TAG_EMPTY || tag === TAG_DELETED) continue;
      let dest = tag & mask;
      while (dst[SLOT_BASE_WORDS + dest * SLOT_WORDS + SlotWord.TAG] !== TAG_EMPTY) dest = (dest + 1) & mask;
      const b = SLOT_BASE_WORDS + dest * SLOT_WORDS;
      dst[b + SlotWord.TAG] = tag;
      dst[b + SlotWord.LSN_LO] = src[at + SlotWord.LSN_LO]!;
      dst[b + SlotWord.LSN_HI] = src[at + SlotWord.LSN_HI]!;
      copied++;
    }
    next.live += copied;
    return copied;
  }

  /** Rule R2: odd sequence, fields, even sequence. */
  private publish(base: number, tag: number, lsn: number): void {
    const i32 = this.i32;
    const seq = i32[base + SlotWord.SEQ]!;
    Atomics.store(i32, base + SlotWord.SEQ, seq + 1);
    Atomics.store(i32, base + SlotWord.TAG, tag);
    Atomics.store(i32, base + SlotWord.LSN_LO, lsnLo(lsn));
    Atomics.store(i32, base + SlotWord.LSN_HI, lsnHi(lsn));
    Atomics.store(i32, base + SlotWord.SEQ, seq + 2);
  }
}
