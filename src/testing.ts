/**
 * Test hooks (import from 'emdb-js/testing' or dist/src/testing.js): move the
 * database clock (shm/clock.ts) for every thread of one open database, so
 * tests of expiry never sleep. Not for production use.
 */
import type { Emdb } from './db.js';
import { clockOffset, setClockOffset } from './shm/clock.js';

interface ClockAccess {
  connection: { view: { ctl64: BigInt64Array; now(): number }; link: { call(body: { t: 'sweep' }): Promise<unknown> } };
}

function access(db: Emdb<unknown>): ClockAccess['connection'] {
  return (db as unknown as ClockAccess).connection;
}

/**
 * Sets the clock offset (ms added to Date.now()) and lets the writer re-arm
 * its sweep for the new time; with `{ wakeSweep: false }` the sweep is not
 * told (a timer armed for a real-time deadline stays as it is), so expired
 * records stay in the log and only the read paths hide them.
 */
export async function setTestClockOffset(db: Emdb<unknown>, offsetMs: number, opts: { wakeSweep?: boolean } = {}): Promise<void> {
  const conn = access(db);
  setClockOffset(conn.view.ctl64, offsetMs);
  if (opts.wakeSweep !== false) await conn.link.call({ t: 'sweep' });
}

/** Moves the database clock `ms` forward (negative: back). */
export async function advanceTestClock(db: Emdb<unknown>, ms: number): Promise<void> {
  await setTestClockOffset(db, clockOffset(access(db).view.ctl64) + ms);
}

/** The database clock now (epoch ms, offset included). */
export function testClockNow(db: Emdb<unknown>): number {
  return access(db).view.now();
}
