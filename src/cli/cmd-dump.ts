/**
 * dump: every namespace, every live entry, streamed to stdout or --out with the
 * output's backpressure respected, so memory stays flat for any database size.
 */
import fs from 'node:fs';
import { once } from 'node:events';
import type { Emdb, Namespace, ValueEncoding } from '../index.js';
import type { Command } from './command.js';
import { recordedEncoding, Sink, usageError, type Flags } from './context.js';
import { DUMP_VERSION, encodeEnd, encodeEntry, encodeHeader, type DumpFormat } from './dump-format.js';
import { Progress } from './progress.js';
import { salvageDump } from './cmd-dump-salvage.js';
import { toolVersion } from './version.js';

type Space = Emdb<Buffer> | Namespace<Buffer>;

/** Present once the build has TTLs: per-key expiry as epoch ms. */
function expiryReader(space: Space): ((key: Buffer) => Promise<number | undefined>) | undefined {
  const s = space as unknown as { expiresAt?: (key: Buffer) => Promise<number | undefined> };
  return typeof s.expiresAt === 'function' ? (key) => s.expiresAt!.call(space, key) : undefined;
}

export function formatFlag(flags: Flags): DumpFormat | undefined {
  const f = flags.format;
  if (f === undefined) return undefined;
  if (f !== 'ndjson' && f !== 'msgpack') throw usageError('--format is ndjson or msgpack');
  return f;
}

function isEncryptedOpen(flags: Flags): boolean {
  return ['encryption-key-file', 'encryption-key-env', 'passphrase-file', 'passphrase-env'].some((n) => flags[n] !== undefined);
}

export const dump: Command = {
  name: 'dump',
  summary: 'export every namespace to ndjson or msgpack',
  args: '',
  groups: ['secrets'],
  options: { format: { type: 'string', short: 'f' }, out: { type: 'string', short: 'o' }, plaintext: { type: 'boolean' }, salvage: { type: 'boolean' } },
  help: `Streams every entry of every namespace (keys, values, expiry times) to stdout,
or to FILE with --out; constant memory. \`emdb-js dump A | emdb-js load B\` makes B
hold the same namespaces, keys, values and TTLs as A.
  -f, --format F            ndjson (default: one JSON object per line, bytes in base64)
                            or msgpack (msgpackr records, bytes as binary)
  -o, --out FILE            write to FILE instead of stdout
  --plaintext               needed to dump an encrypted database: the dump is not encrypted
  --salvage                 a damaged database (ERR_EMDB_CORRUPTION): read the file itself,
                            without opening or changing it, skip every damaged record and
                            dump what reads whole (last write wins, tombstones, transactions
                            only when whole); what was skipped goes to stderr with its
                            offsets. Holds the data in memory; plaintext databases only
Progress goes to stderr. The first record is a header, the last an end marker.`,
  async run(ctx, path, _args, flags) {
    const format = formatFlag(flags) ?? 'ndjson';
    if (flags.salvage === true) return salvageDump(ctx, path, flags, format);
    if (isEncryptedOpen(flags) && flags.plaintext !== true) {
      throw usageError('this dump would write an encrypted database out in plaintext: add --plaintext to confirm');
    }
    const db = await ctx.open(path, flags);
    const out = typeof flags.out === 'string' ? fs.createWriteStream(flags.out) : undefined;
    if (out) await once(out, 'open');
    const sink = out ? new Sink(out, ctx.signal) : ctx.stdout;
    const names = await db.namespaces();
    const total = (await db.stats()).records;
    const spaces: [string | undefined, Space][] = [[undefined, db]];
    // What each recorded, so load recreates the database and its namespaces with the same value encodings.
    const valueEncodings: Record<string, ValueEncoding> = {};
    const recorded = recordedEncoding(path);
    if (recorded !== undefined) valueEncodings[''] = recorded;
    for (const name of names) {
      const ns = await db.namespace<Buffer>(name);
      if (ns.recordedEncoding !== undefined) valueEncodings[name] = ns.recordedEncoding;
      spaces.push([name, ns]);
    }
    const header = { emdbDump: DUMP_VERSION, format, tool: 'emdb-js', toolVersion: toolVersion(), createdAt: new Date().toISOString(), namespaces: names, records: total, valueEncodings };
    const progress = new Progress({ label: 'dump', unit: 'records', total, quiet: flags.quiet === true || ctx.json });
    let records = 0;
    const write = (chunk: string | Buffer): Promise<void> => (typeof chunk === 'string' ? sink.text(chunk) : sink.bytes(chunk));
    try {
      await write(encodeHeader(header));
      for (const [ns, space] of spaces) {
        const expiry = expiryReader(space);
        for await (const [k, v] of space.iter()) {
          if (ctx.stopped) break;
          const x = expiry ? await expiry(k) : undefined;
          await write(encodeEntry(format, { ns, k, v, x }));
          records++;
          if ((records & 4095) === 0) {
            progress.update(records);
            // Let signals and pipe errors be handled: the loop otherwise runs on microtasks only.
            await new Promise((r) => setImmediate(r));
          }
        }
        if (ctx.stopped) break;
      }
      ctx.signal.throwIfAborted();
      await write(encodeEnd(format, records));
      await sink.flushText();
      progress.update(records);
      progress.finish();
    } catch (err) {
      progress.finish(ctx.stopReason ? `stopped by ${ctx.stopReason}` : 'failed');
      throw err;
    } finally {
      if (out) {
        out.end();
        await once(out, 'close').catch(() => undefined);
      }
    }
    if (ctx.json && out) process.stdout.write(`${JSON.stringify({ records, namespaces: names.length, out: flags.out, format })}\n`);
  },
};
