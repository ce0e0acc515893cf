/** Maintenance: compact, backup, lock-holder, break-lock. */
import fs from 'node:fs';
import nodePath from 'node:path';
import { Emdb } from '../index.js';
import type { Command } from './command.js';
import { assertDatabaseExists, usageError, type Context } from './context.js';
import { Progress } from './progress.js';

/**
 * compact and backup report no progress of their own; they write a temp file
 * next to their target, so its size against the expected size is the progress.
 */
async function watchFile<T>(ctx: Context, label: string, file: string, total: number, quiet: boolean, work: Promise<T>): Promise<T> {
  const progress = new Progress({ label, unit: 'bytes', total, quiet: quiet || ctx.json });
  const poll = (): void => {
    try {
      progress.update(fs.statSync(file).size);
    } catch {
      // Not created yet, or already renamed into place.
    }
  };
  const timer = setInterval(poll, 200);
  try {
    const result = await work;
    progress.update(total);
    progress.finish();
    return result;
  } catch (err) {
    progress.finish('failed');
    throw err;
  } finally {
    clearInterval(timer);
  }
}

const compact: Command = {
  name: 'compact',
  summary: 'rewrite the log with live records only',
  args: '',
  groups: ['secrets'],
  options: { force: { type: 'boolean' } },
  help: `Runs db.compact(): writes the live records to PATH.compact and renames it over
PATH atomically (a crash leaves the old file or the new one). Prints the report.
A log with less than 20 % of its bytes to reclaim is left as it is (4 MiB and up).
  --force                   rewrite it anyway`,
  async run(ctx, path, _args, flags) {
    const db = await ctx.open(path, flags);
    const s = await db.stats();
    const report = await watchFile(ctx, 'compact', `${nodePath.resolve(path)}.compact`, s.liveBytes, flags.quiet === true, db.compact({ force: flags.force === true }));
    if (ctx.json) await ctx.stdout.text(`${JSON.stringify(report)}\n`);
    else if (report.skipped) {
      await ctx.stdout.text(`not compacted: less than 20 % of ${report.bytesBefore.toLocaleString('en-US')} bytes to reclaim (--force rewrites it)\n`);
    } else {
      await ctx.stdout.text(
        `compacted ${report.bytesBefore.toLocaleString('en-US')} -> ${report.bytesAfter.toLocaleString('en-US')} bytes, ${report.keysKept.toLocaleString('en-US')} keys kept, ${report.durationMs.toFixed(0)} ms\n`,
      );
    }
  },
};

const backup: Command = {
  name: 'backup',
  summary: 'write a consistent copy to DEST',
  args: 'DEST',
  groups: ['secrets'],
  help: `Runs db.backupTo(DEST): a consistent copy as of the call, written to a temp
file, synced and renamed into place. An existing emdb-js database at DEST is
replaced; any other existing file is refused.`,
  async run(ctx, path, [dest], flags) {
    if (!dest) throw usageError('backup needs DEST');
    const db = await ctx.open(path, flags);
    const s = await db.stats();
    await watchFile(ctx, 'backup', `${nodePath.resolve(dest)}.backup-tmp`, s.fileBytes, flags.quiet === true, db.backupTo(dest));
    if (ctx.json) await ctx.stdout.text(`${JSON.stringify({ ok: true, dest, bytes: fs.statSync(dest).size })}\n`);
    else ctx.note(`backup: ${dest} (${fs.statSync(dest).size.toLocaleString('en-US')} bytes)`);
  },
};

const lockHolder: Command = {
  name: 'lock-holder',
  summary: 'show which process holds the database lock',
  args: '',
  groups: [],
  help: `Prints the pid, host and start time recorded in PATH.lock, or "not locked".
When that holder is provably gone (this host, PID namespace and boot, and the
process has ended or its pid was reused) it says so: the lock is left over, and
the next open of the database (or break-lock) recovers it. A holder on another
host, in another PID namespace (another container) or recorded by emdb-js 0.2.0
cannot be checked from here, and it says that too (--json: "checkable": false).
Reads only; exit 0 either way (--json: "stale": true for a left-over lock).`,
  async run(ctx, path) {
    assertDatabaseExists(path);
    const info = await Emdb.lockHolder(path);
    if (ctx.json) await ctx.stdout.text(`${JSON.stringify(info ? { locked: true, ...info } : { locked: false })}\n`);
    else if (!info) await ctx.stdout.text('not locked\n');
    else {
      const line = `locked by pid ${info.pid} on ${info.hostname} since ${info.startedAt}`;
      // A lock left by a killed process still names it: say it is gone, or the operator hunts a process that is not there.
      const gone = info.stale ? `\nthat process is not running: the lock is left over, and the next open (or \`emdb-js break-lock ${path}\`) recovers it` : '';
      const unknown = info.checkable
        ? ''
        : `\nthat process cannot be checked from this host: ${info.detail.replace(/; if you are sure.*$/, '')}\nif you are sure it is gone: emdb-js break-lock --force ${path}`;
      await ctx.stdout.text(`${line}${gone}${unknown}\n`);
    }
  },
};

const breakLock: Command = {
  name: 'break-lock',
  summary: 'remove a lock whose holder is gone',
  args: '',
  groups: [],
  options: { force: { type: 'boolean' } },
  help: `Removes PATH.lock when its holder is provably gone (same host, PID namespace
and boot; pid dead or reused). A live holder's lock is refused with
ERR_EMDB_LOCKED (exit 3), and so is one whose holder cannot be checked from
here: another host, another PID namespace (another container of a pod, a
--network=host container), or a lock written by emdb-js 0.2.0. An open also
recovers a provably stale lock by itself; this is for tools that inspect it.
  --force                   also remove a lock whose holder cannot be checked
                            from here. WARNING: only when you are sure that
                            process is gone (its pod or container deleted, its
                            host down): two writers on one file corrupt it.
                            A holder this host sees running is still refused.`,
  async run(ctx, path, _args, flags) {
    assertDatabaseExists(path);
    const before = await Emdb.lockHolder(path);
    await Emdb.breakLock(path, { force: flags.force === true });
    if (ctx.json) await ctx.stdout.text(`${JSON.stringify({ removed: before !== undefined })}\n`);
    else await ctx.stdout.text(before ? `removed the lock of pid ${before.pid} on ${before.hostname}\n` : 'not locked\n');
  },
};

export const ADMIN_COMMANDS: Command[] = [compact, backup, lockHolder, breakLock];
