/**
 * Memory after repeated compactions: an overwrite-and-compact loop must not
 * keep every old generation resident. The writer and the pool readers
 * allocate almost nothing on their own JavaScript heaps, so V8 did not collect
 * them for minutes and each compaction's old mirror (the whole pre-compaction
 * log) stayed in RSS: ~120 MiB more per cycle of a 117 MiB log with
 * rangeScans, 1.7 GB after 12 cycles, released only by close(). Those threads
 * now collect once after a compaction drops a generation
 * (src/shm/collect-garbage.ts).
 *
 * GC-sampled: this thread's heap is collected before each sample (the other
 * threads collect by themselves, which is what is tested).
 */
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { Emdb, tempDirs } from '../helpers/common.js';

function exposedGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

const MiB = 1024 * 1024;

describe('compaction releases the old generation', () => {
  const newDir = tempDirs('emdb-compact-mem-');

  it.each([{ rangeScans: true }, { rangeScans: false }])('RSS stays flat over overwrite + compact cycles ($rangeScans)', async ({ rangeScans }) => {
    const gc = exposedGc();
    const db = await Emdb.open(path.join(newDir(), 'db.emdb'), { readers: 1, rangeScans });
    const keys = 60_000;
    const value = Buffer.alloc(200, 7);
    const rss: number[] = [];
    let logBytes = 0;
    try {
      for (let cycle = 0; cycle < 7; cycle++) {
        for (let round = 0; round < 4; round++) {
          await db.insertMany(
            (function* () {
              for (let i = 0; i < keys; i++) yield [`key:${String(i).padStart(10, '0')}`, value] as [string, Buffer];
            })(),
          );
        }
        const report = await db.compact();
        logBytes = report.bytesBefore;
        // A read through the pool, so a reader thread holds (and must drop) the generations too.
        expect((await db.get('key:0000000001'))?.length).toBe(200);
        await new Promise((r) => setTimeout(r, 300));
        gc();
        rss.push(process.memoryUsage().rss);
      }
    } finally {
      await db.close();
    }
    // From cycle 2 on, a steady state holds the live generation and the one a compaction builds.
    const growth = Math.max(...rss.slice(-2)) - rss[2]!;
    const report = `RSS by cycle (MiB): ${rss.map((b) => Math.round(b / MiB)).join(', ')}; log before each compaction ${Math.round(logBytes / MiB)} MiB`;
    console.log(`[compaction-memory] rangeScans ${rangeScans}: ${report}`);
    // Keeping every generation grows by about one log per cycle (4 cycles here: ~4 logs); collected, it stays flat.
    expect(growth, report).toBeLessThan(logBytes);
  }, 240_000);
});
