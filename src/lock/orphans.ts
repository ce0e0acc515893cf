import fs from 'node:fs';
import path from 'node:path';
import { registryCheck, registryDir } from './identity.js';
import { breakStale, readSnapshot } from './lock-file.js';
import { judge } from './record.js';

/** The temp file a backup to `target` writes: unique per backup, so overlapping ones never share one. */
export const BACKUP_TEMP_PATTERN = /\.backup-tmp\.[0-9a-f]{16}$/;

/**
 * Removes what killed holders left behind, once we hold the lock on
 * `canonical` (best effort: a failure here never fails the caller):
 *  - `<file>.lock.<pid>.<rand>.tmp` of openers killed while creating the
 *    lock, when their writer is provably gone (the stale-lock test); temps of
 *    live racers stay, they remove their own;
 *  - `<file>.backup-tmp.<hex>` of a killed backup to this path: a live backup
 *    holds this very lock while it writes one, so while we hold it none is live;
 *  - registry records of provably gone holders (of any file).
 */
export function removeOrphanTemps(lockFile: string, canonical: string): void {
  const dir = path.dirname(lockFile);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  const lockPrefix = `${path.basename(lockFile)}.`;
  const base = path.basename(canonical);
  for (const name of names) {
    const file = path.join(dir, name);
    try {
      if (name.startsWith(lockPrefix) && /^\d+\.[a-z0-9]+\.tmp$/.test(name.slice(lockPrefix.length))) {
        const snap = readSnapshot(file);
        if (snap && judge(snap).stale) fs.unlinkSync(file);
      } else if (name.startsWith(`${base}.`) && name.length === base.length + 28 && BACKUP_TEMP_PATTERN.test(name)) {
        fs.unlinkSync(file);
      }
    } catch {
      // Gone already, or unreadable: leave it for the next time.
    }
  }
  sweepRegistry();
}

/**
 * Registry records whose holder is provably gone, and the temps of registry
 * records whose creator was killed; a record being broken by someone else is skipped.
 */
function sweepRegistry(): void {
  let dir: string | undefined;
  let names: string[];
  try {
    dir = registryDir();
    if (dir === undefined) return;
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const file = path.join(dir, name);
    try {
      const isRecord = /^\d+-\d+\.lock$/.test(name);
      if (!isRecord && !/^\d+-\d+\.lock\.\d+\.[a-z0-9]+\.tmp$/.test(name)) continue;
      const snap = readSnapshot(file);
      const check = isRecord ? registryCheck(name.slice(0, -'.lock'.length)) : undefined;
      if (!snap || !judge(snap, check).stale) continue;
      if (!isRecord) {
        fs.unlinkSync(file);
        continue;
      }
      // Only the non-waiting part: when another thread holds the break mutex, it is handling this one.
      const steps = breakStale(file, file, snap, check);
      if (!steps.next().done) steps.return(false);
    } catch {
      // leave it for the next sweep
    }
  }
}
