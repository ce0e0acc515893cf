import os from 'node:os';
import { FRAME_BYTES } from '../shm/frame-pool.js';
import { cacheSizeFromEnv } from './framed-generations.js';

/** A log larger than this share of the memory budget is read through the page cache by default. */
const AUTO_FRAME_ABOVE = 1 / 4;
/** The default cache's share of the memory budget. */
const AUTO_CACHE_SHARE = 1 / 8;
/** The smallest cache: two frames. */
const MIN_CACHE_BYTES = 2 * FRAME_BYTES;

/** When a log is read through the page cache, and with how many bytes of frames. */
export interface CachePlan {
  bytes: number;
  /** Framed when the log is larger than this (0: always). */
  above: number;
}

/**
 * The memory this process may use: the machine's, or its cgroup's limit when
 * lower (a container). Test hook: EMDB_MEMORY_BUDGET (bytes).
 */
export function memoryBudget(): number {
  const env = process.env.EMDB_MEMORY_BUDGET;
  const forced = env === undefined || env === '' ? NaN : Number(env);
  if (Number.isSafeInteger(forced) && forced > 0) return forced;
  const total = os.totalmem();
  // Node 20: constrainedMemory() is the cgroup limit, or 0 / 2^64 when there is none.
  const limit = typeof process.constrainedMemory === 'function' ? (process.constrainedMemory() ?? 0) : 0;
  return limit > 0 && limit < total ? limit : total;
}

/**
 * The page cache of a file-backed database (docs/DESIGN.md,
 * "Bounded page cache", "Default"). `option` is OpenOptions.cacheSize:
 * Infinity keeps the whole log in memory whatever its size; a number frames
 * every log with that many bytes; unset frames a log larger than a quarter of
 * the memory budget with an eighth of it, checked at open, at each
 * compaction and by the writer's timer (WriterEngine.frameIfGrown), and keeps
 * smaller logs whole (the faster reads). The
 * tiny-cache test tier's EMDB_CACHE_SIZE stands in for an unset option.
 */
export function cachePlan(option: number | undefined): CachePlan | undefined {
  if (option === Infinity) return undefined;
  const bytes = option ?? cacheSizeFromEnv();
  if (bytes !== undefined) return { bytes, above: 0 };
  const budget = memoryBudget();
  return { bytes: Math.max(MIN_CACHE_BYTES, Math.floor((budget * AUTO_CACHE_SHARE) / FRAME_BYTES) * FRAME_BYTES), above: Math.floor(budget * AUTO_FRAME_ABOVE) };
}
