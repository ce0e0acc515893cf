/**
 * scan: entries of one key space in byte order of their keys, within bounds.
 * With range scans in the build it asks the sorted index (opened with
 * `rangeScans: true`); without them it walks every record with iter() and
 * filters and sorts here, and says so on stderr.
 */
import type { Emdb, OpenOptions } from '../index.js';
import { EmdbError, ErrorCode } from '../index.js';
import { decodeArg, decodeKey, encodeOut, keyEncoding, valueEncoding } from './bytes.js';
import { spaceFor } from './cmd-kv.js';
import type { Command } from './command.js';
import { usageError, type Context, type Flags } from './context.js';

type Entry = [Buffer, Buffer];

export interface Bounds {
  prefix?: Buffer;
  gt?: Buffer;
  gte?: Buffer;
  lt?: Buffer;
  lte?: Buffer;
  reverse: boolean;
  /** -1: unbounded. */
  limit: number;
}

/** What a build with range scans offers (docs: API "Range queries"); feature-detected at run time. */
interface RangeCapable {
  rangeIter(opts: { gt?: Buffer; gte?: Buffer; lt?: Buffer; lte?: Buffer; reverse?: boolean; limit?: number }): AsyncIterableIterator<Entry>;
  rangePrefixIter(prefix: Buffer, opts?: { reverse?: boolean; limit?: number }): AsyncIterableIterator<Entry>;
}

function hasRanges(space: unknown): space is RangeCapable {
  const s = space as Partial<RangeCapable>;
  return typeof s.rangeIter === 'function' && typeof s.rangePrefixIter === 'function';
}

export function inBounds(key: Buffer, b: Bounds): boolean {
  if (b.prefix && (key.length < b.prefix.length || b.prefix.compare(key, 0, b.prefix.length) !== 0)) return false;
  if (b.gt && Buffer.compare(key, b.gt) <= 0) return false;
  if (b.gte && Buffer.compare(key, b.gte) < 0) return false;
  if (b.lt && Buffer.compare(key, b.lt) >= 0) return false;
  if (b.lte && Buffer.compare(key, b.lte) > 0) return false;
  return true;
}

/**
 * The fallback: every live entry, filtered and sorted here. With a limit only
 * the best `limit` entries are kept (memory bounded by the limit); without one,
 * every match is held until the walk ends.
 */
export async function* scanByWalking(space: { iter(): AsyncIterable<Entry> }, b: Bounds, ctx: { readonly stopped: boolean }): AsyncGenerator<Entry> {
  const order = (x: Entry, y: Entry): number => (b.reverse ? -1 : 1) * Buffer.compare(x[0], y[0]);
  const kept: Entry[] = [];
  if (b.limit === 0) return;
  for await (const entry of space.iter()) {
    if (ctx.stopped) return;
    if (!inBounds(entry[0], b)) continue;
    if (b.limit < 0 || kept.length < b.limit) {
      insertSorted(kept, entry, order);
    } else if (order(entry, kept[kept.length - 1]!) < 0) {
      kept.pop();
      insertSorted(kept, entry, order);
    }
  }
  yield* kept;
}

function insertSorted(arr: Entry[], e: Entry, order: (x: Entry, y: Entry) => number): void {
  let lo = 0;
  let hi = arr.length;
  // Appending in order is the common case when the limit is unbounded: check the end first.
  if (hi > 0 && order(arr[hi - 1]!, e) <= 0) {
    arr.push(e);
    return;
  }
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (order(arr[mid]!, e) <= 0) lo = mid + 1;
    else hi = mid;
  }
  arr.splice(lo, 0, e);
}

async function* scanWithRanges(space: RangeCapable, b: Bounds): AsyncGenerator<Entry> {
  const { prefix, reverse, limit, ...cmp } = b;
  if (prefix && Object.values(cmp).every((v) => v === undefined)) {
    yield* space.rangePrefixIter(prefix, { reverse, limit });
    return;
  }
  let n = 0;
  for await (const e of space.rangeIter({ ...cmp, reverse, limit: prefix ? -1 : limit })) {
    if (prefix && !inBounds(e[0], b)) continue;
    if (limit >= 0 && n++ >= limit) return;
    yield e;
  }
}

/** Opens with the sorted index when this build has it; falls back to a plain open when the option is refused. */
async function openForScan(ctx: Context, path: string, flags: Flags): Promise<Emdb<Buffer>> {
  const withRanges: OpenOptions = { rangeScans: true };
  try {
    return await ctx.open(path, flags, { extra: withRanges });
  } catch (err) {
    const refused = err instanceof EmdbError && (err.code === ErrorCode.INVALID_CONFIG || err.code === ErrorCode.RANGE_SCANS_DISABLED);
    if (!refused) throw err;
    return ctx.open(path, flags);
  }
}

function parseBounds(flags: Flags): Bounds {
  const k = (name: string): Buffer | undefined => (typeof flags[name] === 'string' ? decodeKey(flags[name] as string, flags, `--${name}`) : undefined);
  const limitText = flags.limit;
  const limit = limitText === undefined ? -1 : Number(limitText);
  if (!Number.isInteger(limit) || limit < -1) throw usageError('--limit is an integer >= 0 (or --limit=-1 for no limit)');
  if (flags.gt !== undefined && flags.gte !== undefined) throw usageError('--gt and --gte exclude each other');
  if (flags.lt !== undefined && flags.lte !== undefined) throw usageError('--lt and --lte exclude each other');
  const prefix = typeof flags.prefix === 'string' ? decodeArg(flags.prefix, keyEncoding(flags), '--prefix') : undefined;
  return { prefix: prefix?.length ? prefix : undefined, gt: k('gt'), gte: k('gte'), lt: k('lt'), lte: k('lte'), reverse: flags.reverse === true, limit };
}

export const scan: Command = {
  name: 'scan',
  summary: 'list entries in key order, by prefix or bounds',
  args: '',
  groups: ['keys', 'values', 'secrets'],
  options: {
    prefix: { type: 'string' },
    gt: { type: 'string' },
    gte: { type: 'string' },
    lt: { type: 'string' },
    lte: { type: 'string' },
    limit: { type: 'string' },
    reverse: { type: 'boolean' },
    'keys-only': { type: 'boolean' },
  },
  help: `Prints "key<TAB>value" per entry in byte order of the keys (--json: one
{"key","value"} object per line, base64 unless --key-hex/--value-hex say otherwise).
  --prefix P                keys starting with P
  --gt/--gte/--lt/--lte K   bounds (bytes compared unsigned, like memcmp)
  --limit N                 at most N entries
  --reverse                 descending order
  --keys-only               keys only
Uses the sorted range index when this build has range scans; otherwise it says so on
stderr, walks every record, and sorts the matches in memory (bounded by --limit).`,
  async run(ctx, path, _args, flags) {
    const bounds = parseBounds(flags);
    const db = await openForScan(ctx, path, flags);
    const space = await spaceFor(db, flags, false);
    let source: AsyncIterable<Entry>;
    if (hasRanges(space)) {
      source = scanWithRanges(space, bounds);
    } else {
      ctx.note('scan: range scans are not available in this build; scanning every record and sorting the matches');
      source = scanByWalking(space, bounds, ctx);
    }
    const kenc = flags['key-hex'] || flags['key-base64'] ? keyEncoding(flags) : ctx.json ? 'base64' : 'utf8';
    const venc = flags['value-hex'] || flags['value-base64'] ? valueEncoding(flags) : ctx.json ? 'base64' : 'utf8';
    const keysOnly = flags['keys-only'] === true;
    for await (const [key, value] of source) {
      if (ctx.stopped) break;
      const k = encodeOut(key, kenc);
      if (ctx.json) {
        await ctx.stdout.text(`${JSON.stringify(keysOnly ? { key: k } : { key: k, value: encodeOut(value, venc) })}\n`);
      } else {
        await ctx.stdout.text(keysOnly ? `${k}\n` : `${k}\t${encodeOut(value, venc)}\n`);
      }
    }
    await ctx.stdout.flushText();
  },
};
