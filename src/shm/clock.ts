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

/** Test hook behind emdb-js's testing helpers: moves every thread's clock to Date.now() + `offsetMs`. */
export function setClockOffset(ctl64: BigInt64Array, offsetMs: number): void {
  Atomics.store(ctl64, Ctl64.CLOCK_OFFSET, BigInt(Math.trunc(offsetMs)));
}

export function clockOffset(ctl64: BigInt64Array): number {
  return Number(Atomics.load(ctl64, Ctl64.CLOCK_OFFSET));
}
