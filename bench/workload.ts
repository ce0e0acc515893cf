/**
 * The benchmark workload: a fixed-seed PRNG, 24-byte random keys and 150-byte
 * random values (the redb/emdb-rs bench shape), and the per-phase sizes for the
 * full and the quick run. Everything here is deterministic for a given seed.
 */
export const KEY_BYTES = 24;
export const VALUE_BYTES = 150;
export const RECORD_PAYLOAD_BYTES = KEY_BYTES + VALUE_BYTES;
export const DEFAULT_SEED = 0x5eed_cafe;

export type Entry = readonly [Uint8Array, Uint8Array];

/** mulberry32: tiny, fast, good enough for picking keys and filling bytes. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** Fills `out` with PRNG bytes, four at a time. */
export function fillRandom(next: () => number, out: Uint8Array): void {
  let i = 0;
  for (; i + 4 <= out.length; i += 4) {
    const r = next();
    out[i] = r;
    out[i + 1] = r >>> 8;
    out[i + 2] = r >>> 16;
    out[i + 3] = r >>> 24;
  }
  if (i < out.length) {
    const r = next();
    for (let s = 0; i < out.length; i++, s += 8) out[i] = r >>> s;
  }
}

/** The value stored under loaded key `index`: reproducible, so reads can be verified. */
export function valueFor(seed: number, index: number): Buffer {
  const out = Buffer.allocUnsafe(VALUE_BYTES);
  fillRandom(mulberry32((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0), out);
  return out;
}

/**
 * All loaded keys, 24 bytes each, back to back in a SharedArrayBuffer so reader
 * threads can share them without copying through a message.
 */
export function makeKeys(seed: number, count: number): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(count * KEY_BYTES);
  fillRandom(mulberry32(seed), new Uint8Array(sab));
  return sab;
}

/** A private (non-shared) copy of the key table: some native bindings dislike shared memory. */
export function localKeys(sab: SharedArrayBuffer): Buffer {
  return Buffer.from(new Uint8Array(sab));
}

export function keyAt(keys: Buffer, index: number): Buffer {
  return keys.subarray(index * KEY_BYTES, (index + 1) * KEY_BYTES);
}

/** Loaded entries [key, value] for indexes [from, to), values generated lazily. */
export function* loadEntries(keys: Buffer, seed: number, from: number, to: number): Generator<Entry> {
  for (let i = from; i < to; i++) yield [keyAt(keys, i), valueFor(seed, i)];
}

/** Fresh random entries (not among the loaded keys, with overwhelming probability). */
export function freshEntries(next: () => number, count: number): Entry[] {
  const out: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const key = Buffer.allocUnsafe(KEY_BYTES);
    const value = Buffer.allocUnsafe(VALUE_BYTES);
    fillRandom(next, key);
    fillRandom(next, value);
    out.push([key, value]);
  }
  return out;
}

/** A random index in [0, n) from a PRNG. */
export function pick(next: () => number, n: number): number {
  return next() % n;
}

export interface Scale {
  records: number;
  /** Individual writes, each made durable before the next. */
  singleDurable: number;
  batches: number;
  batchSize: number;
  /** Individual writes with no durability wait (pipelined, at most `window` outstanding). */
  nosync: number;
  reads: number;
  /** Total reads spread over the threads of one multi-thread phase. */
  threadedReads: number;
  threads: number[];
  ranges: number;
  rangeLength: number;
  /** Concurrent requests per pipelined window of async reads. */
  readWindow: number;
  /** Outstanding requests per pipelined window of individual writes (nosync writes, removals). */
  writeWindow: number;
  /** Keys per getMany call. */
  getManyBatch: number;
}

export function scaleFor(records: number, quick: boolean, threads: number[] = [2, 4]): Scale {
  return quick
    ? {
        records, singleDurable: 200, batches: 20, batchSize: 1_000, nosync: 20_000, reads: 200_000,
        threadedReads: 200_000, threads, ranges: 2_000, rangeLength: 100, readWindow: 10_000, writeWindow: 1_000, getManyBatch: 1_000,
      }
    : {
        records, singleDurable: 1_000, batches: 100, batchSize: 1_000, nosync: 100_000, reads: 1_000_000,
        threadedReads: 1_000_000, threads, ranges: 10_000, rangeLength: 100, readWindow: 10_000, writeWindow: 1_000, getManyBatch: 1_000,
      };
}
