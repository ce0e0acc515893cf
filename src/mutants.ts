/**
 * Planted defects for the model test (test/api/ttl-model.test.ts): it proves
 * the model catches them. Off unless the environment variable
 * EMDB_TEST_MUTANT names one when a thread loads this module (worker threads
 * inherit the opener's environment when the database opens). Read once at
 * load: no cost on any path when unset.
 *   'iter-expired'    scans do not skip expired records
 *   'persist-revives' persist() re-writes an expired record without its deadline
 *   'compaction-no-catch-up' compaction does not replay the writes made while it copied
 */
export const MUTANT: string = (typeof process !== 'undefined' && process.env.EMDB_TEST_MUTANT) || '';
