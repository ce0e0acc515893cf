/**
 * `stats().lastCheckpointAt` follows `compact()` (the compacted file's header
 * is a checkpoint) and a `checkpoint()` after it. Before the fix it kept the
 * time of the last header-slot write: after a compaction the slot already
 * recorded the end of the log, so `checkpoint()` wrote no slot (only a new
 * index snapshot) and the time stayed where it was before the compaction.
 */
import path from 'node:path';
import { expect, it } from 'vitest';
import { Emdb, tempDirs } from '../helpers/common.js';

const newDir = tempDirs('emdb-lastckpt-');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

it('compact() and a checkpoint() after it advance lastCheckpointAt', async () => {
  const db = await Emdb.open(path.join(newDir(), 'db.emdb'), { readers: 1 });
  try {
    for (let i = 0; i < 1000; i++) await db.insert(`k${i % 100}`, `v${i}`);
    await sleep(50);
    const beforeCompact = Date.now();
    await db.compact({ force: true });
    expect((await db.stats()).lastCheckpointAt).toBeGreaterThanOrEqual(beforeCompact);
    await sleep(50);
    const beforeCheckpoint = Date.now();
    await db.checkpoint();
    const s = await db.stats();
    expect(s.indexSnapshot.tail).toBe(s.tailHint);
    expect(s.lastCheckpointAt).toBeGreaterThanOrEqual(beforeCheckpoint);
  } finally {
    await db.close();
  }
});
