/**
 * `dump --salvage`: the dump of what still reads in a damaged database
 * (salvage-walk.ts), in the same format as a dump, so `load` takes it.
 * What was skipped is reported on stderr (and in --json with --out); the
 * exit code is 0 when the dump was written, damaged or not: the skipped list
 * says what is missing, and `verify` is the check.
 */
import fs from 'node:fs';
import { once } from 'node:events';
import { Emdb, type ValueEncoding } from '../index.js';
import { assertDatabaseExists, Sink, usageError, type Context, type Flags } from './context.js';
import { DUMP_VERSION, encodeEnd, encodeEntry, encodeHeader, type DumpFormat } from './dump-format.js';
import { Progress } from './progress.js';
import { salvageLog, type SalvageResult, type Skipped } from './salvage-walk.js';
import { toolVersion } from './version.js';

/** Skipped ranges listed one per line on stderr; the rest are counted. */
const LISTED = 20;

export async function salvageDump(ctx: Context, path: string, flags: Flags, format: DumpFormat): Promise<void> {
  assertDatabaseExists(path);
  if (['encryption-key-file', 'encryption-key-env', 'passphrase-file', 'passphrase-env'].some((n) => flags[n] !== undefined)) {
    throw usageError('dump --salvage reads plaintext databases only');
  }
  const holder = await Emdb.lockHolder(path).catch(() => undefined);
  if (holder && !holder.stale) ctx.note(`dump --salvage: the database is open in pid ${holder.pid} on ${holder.hostname}; its newest records may read as an incomplete tail`);
  const walk = new Progress({ label: 'salvage', unit: 'bytes', total: fs.statSync(path).size, quiet: flags.quiet === true || ctx.json });
  let result: SalvageResult;
  try {
    let last = 0;
    result = salvageLog(path, (offset) => {
      if (offset - last >= 1 << 20) {
        last = offset;
        walk.update(offset);
      }
    });
  } catch (err) {
    walk.finish('failed');
    throw err;
  }
  walk.update(result.fileBytes);
  walk.finish();

  const now = Date.now();
  const live = result.spaces.map((s) => [...s.entries].filter(([, e]) => e.x === 0 || e.x > now));
  const total = live.reduce((n, l) => n + l.length, 0);
  const names = result.spaces.flatMap((s) => (s.name === undefined ? [] : [s.name]));
  const valueEncodings: Record<string, ValueEncoding> = {};
  for (const s of result.spaces) if (s.encoding !== undefined) valueEncodings[s.name ?? ''] = s.encoding;
  const skippedBytes = result.skipped.reduce((n, s) => n + s.bytes, 0);
  const header = {
    emdbDump: DUMP_VERSION, format, tool: 'emdb-js', toolVersion: toolVersion(), createdAt: new Date().toISOString(), namespaces: names, records: total, valueEncodings,
    // Load ignores it; a reader of the dump sees it is a salvage, and of how much.
    salvage: { skippedRanges: result.skipped.length, skippedBytes, ...(result.warning ? { warning: result.warning } : {}) },
  };
  const out = typeof flags.out === 'string' ? fs.createWriteStream(flags.out) : undefined;
  if (out) await once(out, 'open');
  const sink = out ? new Sink(out, ctx.signal) : ctx.stdout;
  const write = (chunk: string | Buffer): Promise<void> => (typeof chunk === 'string' ? sink.text(chunk) : sink.bytes(chunk));
  try {
    await write(encodeHeader(header));
    for (const [i, s] of result.spaces.entries()) {
      for (const [k, e] of live[i]!) {
        await write(encodeEntry(format, { ns: s.name, k: Buffer.from(k, 'latin1'), v: e.v, x: e.x === 0 ? undefined : e.x }));
      }
    }
    await write(encodeEnd(format, total));
    await sink.flushText();
  } finally {
    if (out) {
      out.end();
      await once(out, 'close').catch(() => undefined);
    }
  }
  const lines = result.skipped.slice(0, LISTED).map((s) => `  offset ${s.offset}: ${s.bytes.toLocaleString('en-US')} bytes skipped (${s.reason}${claimText(s)})`);
  if (result.skipped.length > LISTED) lines.push(`  ... and ${result.skipped.length - LISTED} more ranges`);
  ctx.note(
    `dump --salvage: ${total.toLocaleString('en-US')} entries written from ${result.records.toLocaleString('en-US')} intact records; ` +
      (result.skipped.length === 0 ? 'nothing skipped' : `${result.skipped.length} damaged ranges skipped (${skippedBytes.toLocaleString('en-US')} bytes):\n${lines.join('\n')}`),
  );
  if (result.warning) ctx.note(`dump --salvage: warning: ${result.warning}`);
  const summary = JSON.stringify({ records: total, namespaces: names.length, out: flags.out, format, skipped: result.skipped, ...(result.warning ? { warning: result.warning } : {}) });
  // With the dump on stdout, the summary goes to stderr.
  if (ctx.json) (out ? process.stdout : process.stderr).write(`${summary}\n`);
}

/** What a skipped record's header still claims; a damaged record's claim is not proof of anything. */
function claimText(s: Skipped): string {
  if (s.looksLike === undefined) return '';
  const of = ['namespace drop', 'namespace creation', 'clear'].includes(s.looksLike) ? 'of' : 'in';
  const ns = s.namespace === undefined ? '' : ` ${of} namespace ${JSON.stringify(s.namespace)}`;
  // Intact records skipped for their framing read whole: their kind is what they are.
  const trusted = s.reason.startsWith('transaction') || s.reason.startsWith('commit record') || s.reason.startsWith('malformed');
  return trusted ? `; ${s.looksLike}${ns}` : `; its header still reads as a ${s.looksLike}${ns}, untrusted`;
}
