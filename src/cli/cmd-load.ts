/**
 * load: reads a dump (ndjson or msgpack, detected) from stdin or --in and writes
 * it with insertMany, a run of consecutive entries of one namespace at a time:
 * input is pulled as the writer takes it, so memory stays flat. Entries with an
 * expiry are written with that absolute deadline when the build has TTLs.
 */
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import type { Emdb, Namespace, ValueEncoding } from '../index.js';
import type { Command } from './command.js';
import { usageError, type Context } from './context.js';
import { formatFlag } from './cmd-dump.js';
import { readDump, type DumpEntry, type DumpItem } from './dump-format.js';
import { Progress } from './progress.js';

type Space = Emdb<Buffer> | Namespace<Buffer>;
type TtlWriter = (space: Space, key: Buffer, value: Buffer, deadline: number) => Promise<void>;

/**
 * The library's insert at an absolute deadline (src/ttl.ts; a registry symbol,
 * as RAW_VALUES in context.ts), when this build has TTLs. Not insertWithTtl:
 * the deadline minus now, added back to the database clock a moment later,
 * lands a millisecond late whenever the clock ticks in between.
 */
const INSERT_AT_DEADLINE = Symbol.for('emdb-js.insertAtDeadline');
type DeadlineInsert = (k: Buffer, v: Buffer, deadline: number) => Promise<void>;

function ttlWriter(db: Emdb<Buffer>): TtlWriter | undefined {
  const probe = db as unknown as Record<symbol, unknown>;
  if (typeof probe[INSERT_AT_DEADLINE] !== 'function') return undefined;
  return (space, key, value, deadline) => (space as unknown as Record<symbol, DeadlineInsert>)[INSERT_AT_DEADLINE]!.call(space, key, value, deadline);
}

/** TTL writes in flight at once: enough to batch them in the writer, few enough to bound memory. */
const TTL_IN_FLIGHT = 1024;

interface LoadCounts {
  records: number;
  expired: number;
  ttlDropped: number;
}

/**
 * Loads a dump into the database `open` opens once the dump's header is read:
 * with the value encoding the source database recorded, so a new database
 * records the same one and an existing one with another is refused
 * (ERR_EMDB_INVALID_CONFIG) instead of receiving bytes of another encoding.
 */
export async function loadStream(
  ctx: Context,
  open: (valueEncoding: ValueEncoding | undefined) => Promise<Emdb<Buffer>>,
  input: Readable,
  opts: { format: 'ndjson' | 'msgpack' | undefined; ignoreTtl: boolean; progress: Progress },
): Promise<LoadCounts> {
  const items = readDump(input, opts.format);
  const first = await items.next();
  if (first.done || first.value.kind !== 'header') throw usageError('not a valid emdb-js dump: no header');
  const header = first.value.header;
  if (Number.isFinite(header.records)) opts.progress.total = header.records;
  const encodings = header.valueEncodings ?? {};
  const db = await open(encodings['']);
  const nsOptions = (name: string): { valueEncoding?: ValueEncoding } => (encodings[name] !== undefined ? { valueEncoding: encodings[name] } : {});
  const spaces = new Map<string | undefined, Space>([[undefined, db]]);
  // Namespaces are created even when empty: the copy has the same namespaces as the source.
  for (const name of header.namespaces) spaces.set(name, await db.namespace<Buffer>(name, nsOptions(name)));
  const spaceOf = async (ns: string | undefined): Promise<Space> => {
    let s = spaces.get(ns);
    if (!s) spaces.set(ns, (s = await db.namespace<Buffer>(ns!, nsOptions(ns!))));
    return s;
  };
  const withTtl = ttlWriter(db);
  const counts: LoadCounts = { records: 0, expired: 0, ttlDropped: 0 };
  let declared: number | undefined;
  let pending: DumpEntry | undefined;
  const nextEntry = async (): Promise<DumpEntry | undefined> => {
    if (ctx.stopped) return undefined;
    let n: IteratorResult<DumpItem>;
    try {
      n = await items.next();
    } catch (err) {
      // Stopping destroys the input: what was read so far is loaded, the cut is no error.
      if (ctx.stopped) return undefined;
      throw err;
    }
    if (n.done) return undefined;
    if (n.value.kind === 'end') {
      declared = n.value.records;
      // Drain the stream so readDump can refuse trailing data.
      await items.next();
      return undefined;
    }
    if (n.value.kind !== 'entry') throw usageError('not a valid emdb-js dump: a second header');
    return n.value.entry;
  };
  const ttlOf = (e: DumpEntry): number | undefined => (e.x === undefined || opts.ignoreTtl ? undefined : e.x);
  /**
   * Why the input stopped early (cut short, a bad record): held until what came
   * before it is written, since README promises a cut dump loads what came
   * before the cut. insertMany would drop the chunk it was framing if its
   * source threw, so the source ends normally and this is thrown after.
   */
  let cut: { error: unknown } | undefined;
  const nextOrCut = async (): Promise<DumpEntry | undefined> => {
    try {
      return await nextEntry();
    } catch (error) {
      cut = { error };
      return undefined;
    }
  };
  pending = await nextOrCut();
  while (pending && !ctx.stopped) {
    const ns = pending.ns;
    const space = await spaceOf(ns);
    if (ttlOf(pending) === undefined) {
      if (pending.x !== undefined) counts.ttlDropped++;
      const head = pending;
      pending = undefined;
      // A run of entries of this namespace without expiry, pulled as insertMany asks.
      const run = async function* (): AsyncGenerator<[Buffer, Buffer]> {
        yield [head.k, head.v];
        for (;;) {
          const e = await nextOrCut();
          if (!e) return;
          if (e.ns !== ns || ttlOf(e) !== undefined) {
            pending = e;
            return;
          }
          if (e.x !== undefined) counts.ttlDropped++;
          counts.records++;
          if ((counts.records & 4095) === 0) {
            opts.progress.update(counts.records);
            // Let signals be handled: the loop otherwise runs on microtasks only.
            await new Promise((r) => setImmediate(r));
          }
          yield [e.k, e.v];
        }
      };
      counts.records++;
      await space.insertMany(run());
      continue;
    }
    if (!withTtl) {
      throw usageError('the dump has entries with an expiry time and this build of emdb-js has no TTLs; --ignore-ttl loads them without expiry');
    }
    const inFlight: Promise<void>[] = [];
    while (pending && pending.ns === ns && ttlOf(pending) !== undefined) {
      // Skipped here by the wall clock; written with the dump's own deadline, to the millisecond.
      if (pending.x! > Date.now()) {
        inFlight.push(withTtl(space, pending.k, pending.v, pending.x!));
        counts.records++;
      } else {
        counts.expired++;
      }
      if (inFlight.length >= TTL_IN_FLIGHT) await Promise.all(inFlight.splice(0));
      opts.progress.update(counts.records);
      pending = await nextOrCut();
    }
    await Promise.all(inFlight);
  }
  if (cut) {
    opts.progress.update(counts.records);
    throw cut.error;
  }
  if (!ctx.stopped && declared !== undefined && declared !== counts.records + counts.expired) {
    throw usageError(`the dump's end marker counts ${declared} records but it holds ${counts.records + counts.expired}`);
  }
  opts.progress.update(counts.records);
  return counts;
}

export const load: Command = {
  name: 'load',
  summary: 'import a dump (from stdin or --in)',
  args: '',
  groups: ['secrets'],
  createsDatabase: true,
  options: { format: { type: 'string', short: 'f' }, in: { type: 'string', short: 'i' }, 'ignore-ttl': { type: 'boolean' } },
  help: `Reads a dump made by \`emdb-js dump\` from stdin, or from FILE with --in, and
writes every entry (creating the database and its namespaces as needed; existing
keys are overwritten). Writes go in crash-atomic chunks of a few MiB: a load that is
interrupted leaves a consistent database holding a prefix of the dump.
  -f, --format F            ndjson or msgpack (default: detected from the first byte)
  -i, --in FILE             read FILE instead of stdin
  --ignore-ttl              load entries that carry an expiry time without one
Entries whose expiry has passed are skipped (counted in the report).`,
  async run(ctx, path, _args, flags) {
    const format = formatFlag(flags);
    let input: Readable = process.stdin;
    let size: number | undefined;
    if (typeof flags.in === 'string') {
      try {
        size = fs.statSync(flags.in).size;
      } catch {
        throw usageError(`cannot read ${flags.in}`);
      }
      input = fs.createReadStream(flags.in, { highWaterMark: 1 << 20 });
    } else if (process.stdin.isTTY) {
      throw usageError('load reads a dump from stdin or --in FILE; stdin is a terminal');
    }
    let db: Emdb<Buffer> | undefined;
    const open = async (valueEncoding: ValueEncoding | undefined): Promise<Emdb<Buffer>> =>
      (db = await ctx.open(path, flags, { create: true, ...(valueEncoding ? { extra: { valueEncoding } } : {}) }));
    const progress = new Progress({ label: 'load', unit: 'records', total: undefined, quiet: flags.quiet === true || ctx.json });
    let counts: LoadCounts;
    // A Ctrl-C while waiting for input must not wait for input that may never come.
    const onStop = (): void => void input.destroy();
    ctx.signal.addEventListener('abort', onStop, { once: true });
    try {
      counts = await loadStream(ctx, open, input, { format, ignoreTtl: flags['ignore-ttl'] === true, progress });
      await db?.flush();
    } catch (err) {
      progress.finish(ctx.stopReason ? `stopped by ${ctx.stopReason}` : 'failed');
      throw err;
    } finally {
      input.destroy();
    }
    progress.finish(ctx.stopped ? `stopped by ${ctx.stopReason}` : undefined);
    ctx.signal.throwIfAborted();
    const summary = { records: counts.records, expiredSkipped: counts.expired, ttlDropped: counts.ttlDropped, inputBytes: size };
    if (ctx.json) await ctx.stdout.text(`${JSON.stringify(summary)}\n`);
    else ctx.note(`load: ${counts.records.toLocaleString('en-US')} records${counts.expired ? `, ${counts.expired} expired skipped` : ''}${counts.ttlDropped ? `, ${counts.ttlDropped} loaded without their expiry` : ''}`);
  },
};
