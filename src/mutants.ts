/**
 * The one seam for planted defects: the model, isolation and crash tests set
 * one and prove they catch it. Never set outside tests.
 *
 * `testMutant.name` is '' (none) unless the environment variable
 * EMDB_TEST_MUTANT names a mutant when a thread loads this module (worker
 * threads inherit the opener's environment when the database opens), or a test
 * sets it on its own thread for code that runs there. Code on a hot path reads
 * it once at load (no cost when unset); code that a test drives on its own
 * thread reads it where it acts, so the test can turn it on and off.
 *   'iter-expired'    scans do not skip expired records (read at load)
 *   'persist-revives' persist() re-writes an expired record without its deadline (at load, writer)
 *   'exclusive-end'   a range's exclusive end bound is treated as inclusive (test thread)
 *   'resnapshot'      a range iterator takes a fresh snapshot per chunk (test thread)
 *   'drop-removals'   removals never reach the sorted index (test thread: the simulated writer)
 *   'tail-job-drops-rest' a tail sorted in steps is replaced by an empty tail, losing the entries appended meanwhile (test thread)
 *   'compaction-no-catch-up' compaction does not replay the writes made while it copied
 *   'purge-loses-writes' the stepwise index purge drops writes to slots it already copied (at load, writer)
 *   'lazy-no-page-check' a lazily loaded log page is used without checking it against its CRC (where it acts)
 *   'frame-no-version-check' a frame-pool reader skips the closing VERSION load (rule F2; read when a FrameReader is made)
 */
export const testMutant = { name: (typeof process !== 'undefined' && process.env.EMDB_TEST_MUTANT) || '' };
