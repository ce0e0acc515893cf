/** verify: checks every record of a database file without opening (or locking, or changing) it. */
import fs from 'node:fs';
import { Emdb } from '../index.js';
import type { Command } from './command.js';
import { assertDatabaseExists, CliExit, Exit } from './context.js';
import { Progress } from './progress.js';
import { walkLog, type WalkReport } from './verify-walk.js';
import { encryptionFromFlags } from './secrets.js';

/** The header slot line: said only when a slot fails its check (a torn checkpoint write, or damage), and which one open uses instead. */
function slotText(report: WalkReport): string | undefined {
  const { a, b, used, sequence } = report.slots;
  const failed = (['A', 'B'] as const).filter((n) => (n === 'A' ? a : b).startsWith('bad'));
  if (failed.length === 0) return undefined;
  const how = (n: 'A' | 'B'): string => ((n === 'A' ? a : b) === 'bad-mac' ? 'fails authentication' : 'fails its checksum');
  // The failed slot's sequence cannot be read, so it may have been the newer one: say the tail hint used may be older.
  return `slot ${failed.map((n) => `${n} ${how(n)}`).join(', ')}; open falls back to slot ${used} (sequence ${sequence}), whose tail hint (above) may be older than the last checkpoint; a torn checkpoint write leaves this`;
}

const PREFIX_CRC_TEXT: Record<WalkReport['prefixCrc'], string> = {
  ok: 'ok',
  mismatch: 'MISMATCH (the checkpointed bytes changed)',
  absent: 'absent (format 1)',
  unchecked: 'not checked (the file ends before the checkpointed tail)',
};

/** Extra walks of a live database while damage after the checkpoint keeps moving. */
const LIVE_WALKS = 4;

/**
 * A walk of a database a live process is writing reads records as they are
 * being written: a record (or the zeros written ahead of it) read unfinished,
 * then a durable mark read later past it, looks like durable damage. Real
 * damage stays where it is; so, while the walk reports damage after the
 * checkpoint (`durableMark` set: before it, the bytes are stable and the
 * verdict stands), walk again, and call it damage only when two walks in a
 * row find it at the same offset. Otherwise the bytes from there are a live
 * tail, reported and not judged.
 */
async function settleLiveTail(first: WalkReport, walkAgain: () => WalkReport, pid: number): Promise<WalkReport> {
  let report = first;
  for (let i = 0; i < LIVE_WALKS && report.damage?.durableMark !== undefined; i++) {
    const before = report.damage.offset;
    await new Promise((resolve) => setTimeout(resolve, 100));
    report = walkAgain();
    if (report.damage?.durableMark !== undefined && report.damage.offset === before) return report;
  }
  if (report.damage?.durableMark === undefined) return report;
  return { ...report, damage: undefined, liveTail: { offset: report.damage.offset, reason: report.damage.reason.replace(/;.*$/, ''), pid } };
}

export const verify: Command = {
  name: 'verify',
  summary: 'check every record\'s CRC, read-only',
  args: '',
  groups: ['secrets'],
  help: `Reads the file from start to end and checks the header, the framing and CRC32
of every record, transaction framing, and the checkpointed prefix CRC. Never writes
and takes no lock (a database open elsewhere can be verified; records it is
appending right now may show as an incomplete tail). The header is read first,
so everything it calls checkpointed is stable. When the database is open in a
live process, a bad record after the checkpoint is damage only when a second
walk finds it at the same offset (up to ${LIVE_WALKS} more walks); one that moves
is the writer's newest records read as they were written: reported as a
"live tail", not judged, exit 0.
Exit 0 when intact; 3 with ERR_EMDB_CORRUPTION and the byte offset of the first
damage otherwise (a file cut inside its 12 KiB header area: where it ends). The
prefix CRC is checked over every checkpointed byte even past the first damage.
Damage after the last checkpoint is judged as open judges it: crash residue
(reported with its offset, exit 0: the next open drops it) unless a later
durable mark proves those bytes were synced, which is damage (exit 3: open
refuses the file). A header slot that fails its check is reported and the other
one used, as open does (exit 0); both failing is damage.
Encrypted files: give the key (flags below) and verify also authenticates the header
slots and every record (a wrong key exits 3 with ERR_EMDB_ENCRYPTION_KEY_MISMATCH);
without it only the record framing and CRCs in the clear are checked, and the
report says "not authenticated".`,
  async run(ctx, path, _args, flags) {
    assertDatabaseExists(path);
    const holder = await Emdb.lockHolder(path).catch(() => undefined);
    if (holder) ctx.note(`verify: the database is open in pid ${holder.pid} on ${holder.hostname}; its newest records may read as an incomplete tail`);
    const encryption = await encryptionFromFlags(flags);
    const progress = new Progress({ label: 'verify', unit: 'bytes', total: fs.statSync(path).size, quiet: flags.quiet === true || ctx.json });
    let report;
    try {
      let last = 0;
      report = walkLog(path, (offset) => {
        if (offset - last >= 1 << 20) {
          last = offset;
          progress.update(offset);
        }
      }, encryption);
      if (holder && !holder.stale) report = await settleLiveTail(report, () => walkLog(path, () => undefined, encryption), holder.pid);
    } catch (err) {
      progress.finish('failed');
      throw err;
    }
    progress.total = report.fileBytes;
    progress.update(report.end);
    progress.finish();
    const ok = !report.damage && report.prefixCrc !== 'mismatch';
    if (ctx.json) {
      await ctx.stdout.text(`${JSON.stringify({ ok, path, ...report })}\n`);
    } else {
      const lines = [
        `file          ${path} (${report.fileBytes.toLocaleString('en-US')} bytes, format ${report.formatVersion}${report.encrypted ? (report.authenticated ? ', encrypted, authenticated' : ', encrypted, not authenticated: give the key to check it') : ''})`,
        `records       ${report.records.toLocaleString('en-US')} (${Object.entries(report.byKind).map(([k, n]) => `${k} ${n.toLocaleString('en-US')}`).join(', ') || 'none'})`,
        `transactions  ${report.transactions.toLocaleString('en-US')}`,
        `checkpoint    tail ${report.tailHint.toLocaleString('en-US')}, prefix CRC ${PREFIX_CRC_TEXT[report.prefixCrc]}`,
        `valid up to   ${report.end.toLocaleString('en-US')}`,
      ];
      const slotNote = slotText(report);
      if (slotNote) lines.push(`header slots  ${slotNote}`);
      if (report.residue) {
        const dropped = report.residue.droppedRecords ? `, with ${report.residue.droppedRecords} intact records after it that no durable mark proves were synced` : '';
        const live = holder && !holder.stale ? ' (or, as the database is open, records being written as they were read)' : '';
        lines.push(`tail residue  ${report.residue.bytes} bytes at offset ${report.residue.offset} (${report.residue.reason}); no durable mark proves it durable: the next open drops it${live}${dropped}`);
      }
      if (report.liveTail) {
        lines.push(`live tail     from offset ${report.liveTail.offset}: not yet checkpointed, being written by pid ${report.liveTail.pid} (the database is open; ${LIVE_WALKS + 1} walks read a bad record at a different offset each time: ${report.liveTail.reason}); not judged, verify again once it is closed`);
      }
      if (report.damage) lines.push(`DAMAGE        at offset ${report.damage.offset}: ${report.damage.reason}`);
      lines.push(ok ? 'result        ok' : 'result        CORRUPT');
      await ctx.stdout.text(`${lines.join('\n')}\n`);
    }
    await ctx.stdout.flushText();
    if (report.damage) throw new CliExit(Exit.DATABASE, `corrupt log at offset ${report.damage.offset}: ${report.damage.reason}`, 'ERR_EMDB_CORRUPTION');
    if (report.prefixCrc === 'mismatch') throw new CliExit(Exit.DATABASE, 'the checkpointed prefix fails its CRC although every record passed its own', 'ERR_EMDB_CORRUPTION');
  },
};

