import { defineConfig } from 'vitest/config';

// Forks, not threads: the engine itself spawns worker_threads and shares
// SharedArrayBuffers; running each test file in its own process keeps those
// workers, lockfiles and file descriptors isolated between files.
export default defineConfig({
  test: {
    pool: 'forks',
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    fileParallelism: true,
  },
});
