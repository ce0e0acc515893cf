import { EmdbError, ErrorCode } from './errors.js';

/**
 * Special TTL values (symbols, so no number can be mistaken for one):
 * `Ttl.Default` uses the key space's `defaultTtl` (or never expires when there
 * is none), `Ttl.Never` stores the record without a deadline.
 */
// Each typed as its own `unique symbol` (a const declaration is the only way to get
// one): in an object literal a Symbol() is plain `symbol`, and TtlArg would then
// accept any symbol at compile time, to fail only at run time.
const Default: unique symbol = Symbol('emdb-js.Ttl.Default');
const Never: unique symbol = Symbol('emdb-js.Ttl.Never');
export const Ttl: { readonly Default: typeof Default; readonly Never: typeof Never } = { Default, Never };

/** What insertWithTtl, insertMany's `ttl` and tx.insertWithTtl take: milliseconds, Ttl.Default or Ttl.Never. */
export type TtlArg = number | typeof Ttl.Default | typeof Ttl.Never;

/** Deadlines are epoch milliseconds stored in a u64 read back as a JS number: they stay below 2^53. */
const MAX_DEADLINE = Number.MAX_SAFE_INTEGER;

function invalid(message: string): EmdbError {
  return new EmdbError(ErrorCode.INVALID_CONFIG, message);
}

/** Checks a TTL in milliseconds: a finite number >= 0 below 2^53. */
function checkMs(ms: unknown, what: string): number {
  if (typeof ms !== 'number') throw invalid(`${what} must be a number of milliseconds, Ttl.Default or Ttl.Never, got ${typeof ms}`);
  if (Number.isNaN(ms)) throw invalid(`${what} must not be NaN`);
  if (ms === Infinity) throw invalid(`${what} must be finite (use Ttl.Never for no expiry)`);
  if (ms < 0) throw invalid(`${what} must not be negative`);
  if (ms >= MAX_DEADLINE) throw invalid(`${what} must be below 2^53 milliseconds`);
  return ms;
}

/** Validates an open or namespace `defaultTtl` option: undefined, or milliseconds > 0. */
export function checkDefaultTtl(value: unknown, where = 'defaultTtl'): number | undefined {
  if (value === undefined) return undefined;
  const ms = checkMs(value, where);
  // 0 would make every plain insert invisible at once: surely a mistake, not a policy.
  if (ms === 0) throw invalid(`${where} must be greater than 0 (omit it for no expiry)`);
  return ms;
}

/**
 * The deadline (epoch ms, 0 = never) a record written at `now` gets for `ttl`.
 * A deadline is passed when `deadline <= now`, so a TTL of 0 writes a record
 * that is already invisible. Throws ERR_EMDB_INVALID_CONFIG (before anything
 * is queued) for a bad TTL or a deadline past 2^53.
 */
export function deadlineFor(ttl: unknown, defaultTtl: number | undefined, now: number): number {
  let ms: number;
  if (ttl === Ttl.Never) return 0;
  if (ttl === Ttl.Default) {
    if (defaultTtl === undefined) return 0;
    ms = defaultTtl;
  } else {
    ms = checkMs(ttl, 'ttl');
  }
  const deadline = now + Math.ceil(ms);
  if (deadline > MAX_DEADLINE) throw invalid('ttl puts the deadline past 2^53 milliseconds since the epoch');
  return deadline;
}

/**
 * @internal The command line's absolute-deadline insert (not for users:
 * undocumented, and a registry symbol, like RAW_VALUES in options.ts, so that
 * src/cli/, a user of the public API, can name it without importing this
 * module). `load` writes each entry with the deadline its dump recorded:
 * turning it into a TTL and back reads the clock twice, and the millisecond
 * may tick between the reads.
 */
export const INSERT_AT_DEADLINE = Symbol.for('emdb-js.insertAtDeadline');

/** Checks an absolute deadline (epoch ms): an integer from 1 to 2^53 - 1. A passed one writes an invisible record, as a TTL of 0 does. */
export function checkDeadline(deadline: unknown): number {
  if (typeof deadline !== 'number' || !Number.isSafeInteger(deadline) || deadline < 1) {
    throw invalid(`a deadline must be a whole number of milliseconds since the epoch, from 1 to 2^53 - 1, got ${String(deadline)}`);
  }
  return deadline;
}

/** Separators are short non-empty strings: one to 8 UTF-8 bytes. */
export function checkSeparator(value: unknown): string {
  if (value === undefined) return '.';
  if (typeof value !== 'string' || value.length === 0 || Buffer.byteLength(value, 'utf8') > 8) {
    throw invalid('separator must be a non-empty string of at most 8 bytes');
  }
  return value;
}
