import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { defineConfig } from 'vitest/config';

// `npm run test:torture` (EMDB_TORTURE=1) runs every reliability test at 10× its
// CI iterations, so its per-test time limit is 10× as well.
const torture = process.env.EMDB_TORTURE === '1';

/**
 * The kill -9 loop is the longest file by far (most of the CI tier's time): it
 * starts first, on its own worker, and every other file runs beside it. Without
 * this a fresh clone (no timing cache) orders files by size.
 */
class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const first = (f: TestSpecification) => (f.moduleId.endsWith('crash-kill-loop.test.ts') ? 0 : 1);
    return sorted.sort((a, b) => first(a) - first(b));
  }
}

// Forks, not threads: the engine itself spawns worker_threads and shares
// SharedArrayBuffers; running each test file in its own process keeps those
// workers, lockfiles and file descriptors isolated between files.
export default defineConfig({
  test: {
    pool: 'forks',
    include: ['test/**/*.test.ts'],
    testTimeout: torture ? 1_200_000 : 120_000,
    hookTimeout: 60_000,
    fileParallelism: true,
    // Vitest's default is one worker per core minus one: a single worker on this
    // 2-core box, so files ran one after another while most of them wait on
    // fdatasync. Two let the CPU-bound kill -9 loop overlap the I/O-bound files.
    maxWorkers: 2,
    sequence: { sequencer: LongestFirst },
  },
});
