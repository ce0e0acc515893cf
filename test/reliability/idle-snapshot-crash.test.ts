/**
 * Idle snapshots (src/writer/idle-snapshot.ts): once the writer has been idle
 * and the log has grown enough past the last index snapshot, it checkpoints
 * with a snapshot, so a process killed after a load reopens from that
 * snapshot and replays only the writes made after it, with every
 * acknowledged write present. Negative control: with idle snapshots turned
 * off (EMDB_IDLE_SNAPSHOT_BYTES=-1) the same crash replays the whole log.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { IDLE_SNAPSHOT_QUIET_MS, idleSnapshotDue } from '../../dist/src/writer/idle-snapshot.js';
import { Emdb, FIXTURES, spawnCrashChild, tempDirs } from '../helpers/common.js';

const CHILD = path.join(FIXTURES, 'idle-snapshot-child.js');
const RECORDS = 20_000;

async function crashAfterIdle(file: string, idleSnapshotBytes: string): Promise<void> {
  process.env.EMDB_IDLE_SNAPSHOT_BYTES = idleSnapshotBytes;
  try {
    // Idle for 4 of the writer's 250 ms checkpoint ticks past the quiet time.
    const child = spawnCrashChild(CHILD, [file, String(RECORDS), String(IDLE_SNAPSHOT_QUIET_MS + 1000)]);
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += String(d)));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => String(d).includes('ready') && resolve());
      child.on('exit', (code) => reject(new Error(`child exited (${code}) before ready: ${stderr}`)));
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
  } finally {
    delete process.env.EMDB_IDLE_SNAPSHOT_BYTES;
  }
}

async function reopened(file: string): Promise<{ replayed: number; mode: string }> {
  const db = await Emdb.open<Buffer>(file, { readers: 1 });
  try {
    for (const key of ['load:0', `load:${RECORDS - 1}`, 'tail:0', 'tail:49']) expect(await db.get(key), key).toBeDefined();
    const stats = await db.stats();
    expect(stats.records).toBe(RECORDS + 50);
    return { replayed: stats.recovery.recordsReplayed, mode: stats.recovery.mode };
  } finally {
    await db.close();
  }
}

describe('idle index snapshots', () => {
  const newDir = tempDirs();

  it('a process killed after a load and a quiet moment reopens from the idle snapshot: only the later writes are replayed', async () => {
    const file = path.join(newDir(), 'idle.emdb');
    await crashAfterIdle(file, '0');
    const r = await reopened(file);
    expect(r.mode).toBe('snapshot');
    // The 50 durable writes after the snapshot (each may carry a durable mark), nothing of the load.
    expect(r.replayed).toBeLessThan(200);
  });

  it('negative control: with idle snapshots off the same crash replays the whole log', async () => {
    const file = path.join(newDir(), 'off.emdb');
    await crashAfterIdle(file, '-1');
    const r = await reopened(file);
    expect(r.replayed).toBeGreaterThanOrEqual(RECORDS);
  });

  it('is due only after quiet time, past the minimum growth and the index size, and never when turned off', () => {
    const MiB = 1 << 20;
    expect(idleSnapshotDue(64 * MiB, 32 * MiB, IDLE_SNAPSHOT_QUIET_MS, 32 * MiB)).toBe(true);
    expect(idleSnapshotDue(64 * MiB, 32 * MiB, IDLE_SNAPSHOT_QUIET_MS - 1, 32 * MiB)).toBe(false);
    expect(idleSnapshotDue(31 * MiB, 1 * MiB, IDLE_SNAPSHOT_QUIET_MS, 32 * MiB)).toBe(false);
    expect(idleSnapshotDue(40 * MiB, 48 * MiB, IDLE_SNAPSHOT_QUIET_MS, 32 * MiB)).toBe(false);
    expect(idleSnapshotDue(0, 0, 10_000, 0)).toBe(false);
    expect(idleSnapshotDue(64 * MiB, 1 * MiB, 10_000, -1)).toBe(false);
  });
});
