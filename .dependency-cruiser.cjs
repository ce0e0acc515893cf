/**
 * The layer rules of docs/ARCHITECTURE.md, checked by `npm run check:layers`
 * (part of `npm test`). Each rule names the folder it guards; when one fails,
 * the fix is nearly always to move the code down a layer or to pass a value in,
 * not to add an exception here.
 *
 * Bottom to top: errors/types/guard → format/ → crypto/ → shm/ → log/ → protocol →
 * writer/ (writer thread) | core/, range/ (user threads) → API (db, keyspace,
 * transaction, index) → cli/; workers/ are thread entry points over writer/
 * and shm/.
 */
/** The public API's modules (db, keyspace and its parts, transaction, index), as a path pattern. */
const API = 'src/(db|keyspace|keyspace-[a-z]+|transaction|index)\\.ts$';
/** What only the writer thread and the thread entry points may load. */
const WRITER_SIDE = 'workers/|src/(writer|log|core|cli)/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import cycles, type-only imports included.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'base-imports-nothing',
      severity: 'error',
      comment: 'errors.ts, types.ts, guard.ts and mutants.ts (test seams read from the environment) sit under everything: they import nothing of ours.',
      from: { path: '^src/(errors|types|guard|mutants)\\.ts$' },
      to: { path: '^(src|workers)/' },
    },
    {
      name: 'format-only-errors',
      severity: 'error',
      comment: 'format/ (byte layouts) imports nothing of ours but errors.ts.',
      from: { path: '^src/format/' },
      to: { path: '^(src|workers)/', pathNot: '^src/(format/|errors\\.ts$)' },
    },
    {
      name: 'crypto-above-format',
      severity: 'error',
      comment: 'crypto/ (ciphers, KDF, key hierarchy, record and snapshot sealing) imports only format/ and errors.ts of ours (plus node:crypto and @noble): it knows byte layouts, not the log, shared memory or threads.',
      from: { path: '^src/crypto/' },
      to: { path: '^(src|workers)/', pathNot: '^src/(crypto/|format/|errors\\.ts$)' },
    },
    {
      name: 'shm-below-format',
      severity: 'error',
      comment: 'shm/ (shared memory) imports only crypto/ (a sealed log read through the page cache is decrypted on the reading thread), format/, errors.ts and mutants.ts (test seams).',
      from: { path: '^src/shm/' },
      to: { path: '^(src|workers)/', pathNot: '^src/(shm/|crypto/|format/|errors\\.ts$|mutants\\.ts$)' },
    },
    {
      name: 'log-below-shm',
      severity: 'error',
      comment: 'log/ (the log file and what it means) imports only shm/, crypto/, format/, errors.ts and types.ts: never writer/ or anything above.',
      from: { path: '^src/log/' },
      to: { path: '^(src|workers)/', pathNot: '^src/(log/|shm/|crypto/|format/|errors\\.ts$|types\\.ts$)' },
    },
    {
      name: 'protocol-types-only',
      severity: 'error',
      comment: 'protocol.ts holds message types and wire constants; a reader thread loads it, so it has no runtime import (the codec is protocol-codec.ts).',
      from: { path: '^src/protocol\\.ts$' },
      to: { dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'leaves-stay-leaves',
      severity: 'error',
      comment: 'The small top-level modules (keys, encodings, options, paths, lock, port-outbox, protocol*, ttl) import only each other, format/, shm/ types and errors: never core/, writer/, log/, the API or workers/.',
      from: { path: '^src/(keys|encodings|options|paths|lock|port-outbox|protocol|protocol-codec|ttl)\\.ts$' },
      to: { path: `^(${WRITER_SIDE}|${API})` },
    },
    {
      name: 'writer-is-writer-thread-only',
      severity: 'error',
      comment: 'writer/ runs on the writer thread: log/, shm/, crypto/, format/, protocol.ts, types.ts, errors.ts and mutants.ts (test seams) only; never core/ (user threads), the API, or the user-side helpers.',
      from: { path: '^src/writer/' },
      to: { path: '^(src|workers)/', pathNot: '^src/(writer/|log/|shm/|crypto/|format/|protocol\\.ts$|types\\.ts$|errors\\.ts$|mutants\\.ts$)' },
    },
    {
      name: 'core-not-writer-or-workers',
      severity: 'error',
      comment: 'core/ (user-thread machinery) never imports writer/ or workers/ (workers are started by URL) nor the API above it.',
      from: { path: '^src/core/' },
      to: { path: `^(workers/|src/writer/|src/cli/|${API})` },
    },
    {
      name: 'range-is-user-thread',
      comment: 'range/ (range scans) runs on user threads and, for pool-scan.ts, on reader threads: shm/, format/, errors and the small leaves only; never writer/, log/, core/, workers/, the CLI or the API.',
      severity: 'error',
      from: { path: '^src/range/' },
      to: { path: `^(${WRITER_SIDE}|${API})` },
    },
    {
      name: 'level-is-an-api-user',
      comment: 'level/ (the abstract-level adapter) sits on the API and the range snapshots: never writer/, log/, core/, workers/ or the CLI.',
      severity: 'error',
      from: { path: '^src/level/' },
      to: { path: `^(${WRITER_SIDE})` },
    },
    {
      name: 'api-not-writer',
      severity: 'error',
      comment: 'The API (db, keyspace, transaction, index) reaches the writer only through core/.',
      from: { path: `^${API}` },
      to: { path: '^(workers/|src/writer/|src/log/|src/cli/)' },
    },
    {
      name: 'workers-not-user-side',
      severity: 'error',
      comment: 'workers/ are thread entry points over writer/, log/ and shm/; they never load core/ or the API.',
      from: { path: '^workers/' },
      to: { path: `^(src/(core|cli)/|${API})` },
    },
    {
      name: 'reader-thread-stays-light',
      severity: 'error',
      comment: 'Every reader-pool thread loads workers/reader.ts: it must not pull in msgpackr or the native crc32 (start-up time of each thread).',
      from: { path: '^workers/reader\\.ts$' },
      to: { path: 'node_modules/(msgpackr|@node-rs/crc32)', reachable: true },
    },
    {
      name: 'cli-uses-the-api',
      severity: 'error',
      comment: 'cli/ is a user of the package: the public API and paths.ts only, plus format/ for verify, which must walk a file Emdb.open would refuse.',
      from: { path: '^src/cli/', pathNot: '^src/cli/verify-walk\\.ts$' },
      to: { path: '^(src|workers)/', pathNot: '^src/((index|paths)\\.ts$|cli/|format/)' },
    },
    {
      name: 'cli-verify-walk',
      severity: 'error',
      comment: 'verify-walk.ts reads the file itself: the API, format/, and to authenticate an encrypted file crypto/ and log/log-crypt.ts (keys, slot MACs, record opening); nothing that writes.',
      from: { path: '^src/cli/verify-walk\\.ts$' },
      to: { path: '^(src|workers)/', pathNot: '^src/((index|paths)\\.ts$|cli/|format/|crypto/|log/log-crypt\\.ts$)' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
