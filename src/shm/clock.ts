import { Ctl64 } from './layout.js';

/**
 * The one clock of a database, for every thread: wall-clock milliseconds
 * (Date.now()) plus the test offset kept in the control block (layout.ts,
 * CLOCK_OFFSET). Expiry is decided against it everywhere — index lookups,
 * scans, the writer's count, sweep, persist and compaction — so a test that
 * moves the offset moves time for all of them, and no test sleeps.
 *
 * It is a wall clock, not a monotonic one: record deadlines are absolute epoch
 * milliseconds that must mean the same thing after a reopen, on any machine.
 * When the system clock jumps forward, records whose deadline it passes
 * vanish at once; when it jumps back, records not yet swept reappear until
 * their deadline comes again, while those the sweep already removed stay
 * removed (the removal is a record in the log). See docs/DESIGN.md, "TTL".
 */
export function clockNow(ctl64: BigInt64Array): number {
  return Date.now() + Number(Atomics.load(ctl64, Ctl64.CLOCK_OFFSET));
}

/** Int32 words of the CLOCK_OFFSET slot (little-endian halves of the i64). */
const OFFSET_LO = Ctl64.CLOCK_OFFSET * 2;
const OFFSET_HI = OFFSET_LO + 1;

/**
 * clockNow() through the control block's Int32Array view: two Int32 loads
 * instead of a BigInt load and conversion, for the lookup hot path. The halves
 * could tear only while a test hook is changing the offset.
 */
export function clockNow32(ctl32: Int32Array): number {
  return Date.now() + (Atomics.load(ctl32, OFFSET_HI) * 0x1_0000_0000 + (Atomics.load(ctl32, OFFSET_LO) >>> 0));
}

/** Test hook behind emdb-js's testing helpers: moves every thread's clock to Date.now() + `offsetMs`. */
export function setClockOffset(ctl64: BigInt64Array, offsetMs: number): void {
  Atomics.store(ctl64, Ctl64.CLOCK_OFFSET, BigInt(Math.trunc(offsetMs)));
}

export function clockOffset(ctl64: BigInt64Array): number {
  return Number(Atomics.load(ctl64, Ctl64.CLOCK_OFFSET));
}
