/**
 * Index snapshots while the writer is idle (docs/DESIGN.md, "Reopen: index
 * snapshot and prefix CRC"). A snapshot used to be written only by close()
 * and checkpoint(), so a process that crashed after loading a large log had
 * to read and replay all of it at the next open (0.5–0.9 s for 1,000,000
 * records). The writer now also checkpoints with a snapshot once it has been
 * idle for IDLE_SNAPSHOT_QUIET_MS and the log has grown past the last snapshot
 * by at least IDLE_SNAPSHOT_MIN_BYTES and by the index's size, so a snapshot
 * never writes more than the log grew since the last one, and never runs
 * while requests keep coming. A crash reopen then reads the
 * snapshot and replays only what came after it (lazily for plaintext logs of
 * 32 MiB or more: see lazy-open.ts).
 */

/** Log growth past the last snapshot below which no idle snapshot is written. */
export const IDLE_SNAPSHOT_MIN_BYTES = 32 * 1024 * 1024;
/** Time without a request before the writer counts as idle, ms. */
export const IDLE_SNAPSHOT_QUIET_MS = 200;

/** IDLE_SNAPSHOT_MIN_BYTES, or EMDB_IDLE_SNAPSHOT_BYTES (the test suites use a small value; a negative one turns it off). */
export function idleSnapshotMinBytes(): number {
  const env = typeof process !== 'undefined' ? process.env.EMDB_IDLE_SNAPSHOT_BYTES : undefined;
  const n = env === undefined || env === '' ? NaN : Number(env);
  return Number.isFinite(n) ? n : IDLE_SNAPSHOT_MIN_BYTES;
}

/**
 * Whether an idle writer should checkpoint with a snapshot now: `behind` log
 * bytes are past the last snapshot, the index is `indexBytes` large, and the
 * last request came `quietMs` ago.
 */
export function idleSnapshotDue(behind: number, indexBytes: number, quietMs: number, minBytes: number): boolean {
  return minBytes >= 0 && quietMs >= IDLE_SNAPSHOT_QUIET_MS && behind > 0 && behind >= minBytes && behind >= indexBytes;
}
