/** verify: checks every record of a database file without opening (or locking, or changing) it. */
import fs from 'node:fs';
import { Emdb } from '../index.js';
import type { Command } from './command.js';
import { assertDatabaseExists, CliExit, Exit } from './context.js';
import { Progress } from './progress.js';
import { walkLog, type WalkReport } from './verify-walk.js';
import { encryptionFromFlags } from './secrets.js';

const PREFIX_CRC_TEXT: Record<WalkReport['prefixCrc'], string> = {
  ok: 'ok',
  mismatch: 'MISMATCH (the checkpointed bytes changed)',
  absent: 'absent (format 1)',
  unchecked: 'not checked (the file ends before the checkpointed tail)',
};

export const verify: Command = {
  name: 'verify',
  summary: 'check every record\'s CRC, read-only',
  args: '',
  groups: ['secrets'],
  help: `Reads the file from start to end and checks the header, the framing and CRC32
of every record, transaction framing, and the checkpointed prefix CRC. Never writes
and takes no lock (a database open elsewhere can be verified; records it is
appending right now may show as an incomplete tail).
Exit 0 when intact; 3 with ERR_EMDB_CORRUPTION and the byte offset of the first
damage otherwise (a file cut inside its 12 KiB header area: where it ends). The
prefix CRC is checked over every checkpointed byte even past the first damage. An incomplete tail after the last checkpoint is crash residue, not
damage: the next open drops it, and verify reports it with its offset.
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
      if (report.residue) lines.push(`tail residue  ${report.residue.bytes} bytes at offset ${report.residue.offset} (${report.residue.reason}); the next open drops it`);
      if (report.damage) lines.push(`DAMAGE        at offset ${report.damage.offset}: ${report.damage.reason}`);
      lines.push(ok ? 'result        ok' : 'result        CORRUPT');
      await ctx.stdout.text(`${lines.join('\n')}\n`);
    }
    await ctx.stdout.flushText();
    if (report.damage) throw new CliExit(Exit.DATABASE, `corrupt log at offset ${report.damage.offset}: ${report.damage.reason}`, 'ERR_EMDB_CORRUPTION');
    if (report.prefixCrc === 'mismatch') throw new CliExit(Exit.DATABASE, 'the checkpointed prefix fails its CRC although every record passed its own', 'ERR_EMDB_CORRUPTION');
  },
};

