/**
 * The compaction row of bench/run.ts alone, for every store, so it can be rerun
 * without the whole suite: each store loads --records records of the bench
 * workload (24-byte keys, 150-byte values, same seed and adapters as run.ts),
 * removes every second key the same way, then its compaction is timed, in a
 * fresh temp directory, stores one after the other in this process.
 *   node dist/bench/compaction-peers.js [--records 1000000] [--stores emdb-js,classic-level,better-sqlite3] [--rounds 2]
 */
import { loadAdapter, parseStores } from './adapters/registry.js';
import { NotApplicable } from './adapters/types.js';
import { errorMessage, intArg, log, mkTempDir, parseArgs, removeDir } from './util.js';
import { DEFAULT_SEED, keyAt, loadEntries, localKeys, makeKeys } from './workload.js';

const args = parseArgs(process.argv.slice(2));
const RECORDS = intArg(args, 'records', 1_000_000);
const ROUNDS = intArg(args, 'rounds', 2);
const stores = parseStores(args.get('stores') ?? 'emdb-js,classic-level,better-sqlite3');
const keys = localKeys(makeKeys(DEFAULT_SEED, RECORDS));

async function once(name: (typeof stores)[number]): Promise<string> {
  const loaded = await loadAdapter(name);
  if (!loaded.ok) return `missing (${loaded.reason})`;
  const a = loaded.adapter;
  const dir = mkTempDir(`emdb-bench-compact-${name}-`);
  try {
    await a.open(dir);
    await a.bulkLoad(loadEntries(keys, DEFAULT_SEED, 0, RECORDS));
    await a.removeMany(Array.from({ length: Math.floor(RECORDS / 2) }, (_, i) => keyAt(keys, 2 * i)), 1_000);
    const before = (await a.sizeOnDisk()).allocated;
    const t0 = performance.now();
    await a.compact();
    const ms = performance.now() - t0;
    const after = (await a.sizeOnDisk()).allocated;
    await a.close();
    return `${ms.toFixed(0)} ms (${(before / 2 ** 20).toFixed(1)} -> ${(after / 2 ** 20).toFixed(1)} MiB)`;
  } catch (err) {
    return err instanceof NotApplicable ? `N/A (${err.reason})` : `failed: ${errorMessage(err)}`;
  } finally {
    removeDir(dir);
  }
}

for (let round = 1; round <= ROUNDS; round++) {
  for (const name of stores) log(`round ${round}: ${name}: compaction of ${RECORDS.toLocaleString('en')} records after removing half: ${await once(name)}`);
}
