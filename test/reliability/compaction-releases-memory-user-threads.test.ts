/**
 * Memory after compactions on the user's threads. The old log's mirror and
 * index are SharedArrayBuffers, freed only once every isolate that held them
 * has collected its JavaScript objects; the writer and the pool readers
 * collect after a compaction (compaction-releases-memory.test.ts), but the
 * opening thread and attached threads hold the same buffers, and one that
 * only calls getSync allocates too little for V8 to collect: an outside tester
 * saw 1.4 GB of RSS for a 156 MB file after two compactions, still after
 * close() (docs/RELIABILITY.md, "Found by outside testing"). Their views now
 * schedule one collection when they drop a generation, and at close
 * (collectAfterCompaction, src/shm/collect-garbage.ts).
 *
 * Each scenario runs in a child process of its own (fixtures/compaction-memory-child.ts),
 * so RSS is the database's alone, and nothing collects the child's heap but
 * the library: it is started without --expose-gc, and reports that no `gc`
 * global existed, before and after. The bound follows the log: RSS above the
 * child's before the open stays under 1.5 times the compacted log plus a fixed
 * allowance (the writer's heap, the hash index, the load's garbage).
 *
 * Measured on a loaded 2-core machine, 93 MiB compacted log, bound 290 MiB:
 * with the collections 142-162 MiB (main thread only) and 153-188 MiB (idle
 * attached worker), 15 and 31 MiB after close; the code before them grew by
 * a log per compaction, 350 → 883 MiB and 362 → 899 MiB, and kept 874 and
 * 883 MiB after close (the numbers are printed).
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, FIXTURES, tempDirs } from '../helpers/common.js';
import { runJsonChild } from '../helpers/json-child.js';

const MiB = 1024 * 1024;
/** ~100 MiB of log once compacted (400-byte values). */
const KEYS = 220_000;
/** Overwrite-and-compact cycles, then compactions of the compacted log with only getSync around them. */
const CYCLES = 2;
const FORCED = 3;
const ALLOWANCE = 150 * MiB;
/** How long a sample may wait for the old generation to be freed (timers at +50 ms, then the unmapping). */
const SETTLE_MS = 4_000;

interface ChildReport {
  hadGc: boolean;
  gcAfter: boolean;
  rss: number[];
  fileBytes: number[];
  closed: number;
}

function runChild(dir: string, mode: 'main' | 'attached'): Promise<ChildReport> {
  const args = [path.join(dir, 'db.emdb'), mode, String(KEYS), String(CYCLES), String(FORCED), String(ALLOWANCE), String(SETTLE_MS)];
  return runJsonChild<ChildReport>(path.join(FIXTURES, 'compaction-memory-child.js'), args);
}

function check(report: ChildReport, label: string): void {
  const mb = (b: number) => Math.round(b / MiB);
  const bounds = report.fileBytes.map((f) => 1.5 * f + ALLOWANCE);
  const text = `RSS above the process before open, after each compaction (MiB): ${report.rss.map(mb).join(', ')}; bounds ${bounds.map(mb).join(', ')}; compacted log ${mb(report.fileBytes.at(-1)!)} MiB; after close ${mb(report.closed)}`;
  console.log(`[compaction-memory-user] ${label}: ${text}`);
  expect(report.hadGc, 'the child must not have a gc global').toBe(false);
  expect(report.gcAfter, 'the library must not leave a gc global behind').toBe(false);
  expect(report.rss.length).toBe(CYCLES + FORCED);
  report.rss.forEach((rss, i) => expect(rss, text).toBeLessThan(bounds[i]!));
}

describe('compaction releases the old generation on user threads too', () => {
  const newDir = tempDirs('emdb-compact-mem-user-');

  it('main thread only, getSync between compactions: RSS follows the log, and close() lets go of it', async () => {
    const report = await runChild(newDir(), 'main');
    check(report, 'main thread only');
    // The writer has exited and this thread's views are dropped and collected: nearly nothing is left.
    expect(report.closed, `after close ${Math.round(report.closed / MiB)} MiB`).toBeLessThan(ALLOWANCE);
  }, 120_000);

  it('with an attached worker idle during the compactions', async () => {
    check(await runChild(newDir(), 'attached'), 'an idle attached worker');
  }, 120_000);

  it('collectAfterCompaction is in the handle, for attached threads to follow (default true)', async () => {
    const on = await Emdb.openInMemory({ readers: 1 });
    const off = await Emdb.openInMemory({ readers: 1, collectAfterCompaction: false });
    try {
      expect(on.handle().collectAfterCompaction).toBe(true);
      expect(off.handle().collectAfterCompaction).toBe(false);
    } finally {
      await on.close();
      await off.close();
    }
  });
});
