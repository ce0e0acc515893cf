import os from 'node:os';
import { codecFor, VALUE_ENCODINGS, type ValueCodec, type ValueEncoding } from './encodings.js';
import { EmdbError, ErrorCode } from './errors.js';
import { resolveDatabasePath } from './paths.js';
import type { FlushPolicy } from './protocol.js';
import { resolveRangeScans, type RangeSnapshotLimit } from './range/options.js';
import type { SnapshotLimits } from './shm/sorted-writer.js';

export interface EncryptionOptions {
  key?: Uint8Array;
  passphrase?: string;
  cipher?: 'aes-256-gcm' | 'chacha20-poly1305';
}

export interface OpenOptions {
  path?: string;
  appName?: string;
  databaseName?: string;
  dataRoot?: string;
  /** Reader worker threads (default: available parallelism). */
  readers?: number;
  flushPolicy?: FlushPolicy;
  rangeScans?: boolean;
  /** What one range iterator may pin (with rangeScans). */
  rangeSnapshotLimit?: RangeSnapshotLimit;
  defaultTtl?: number;
  encryption?: EncryptionOptions;
  valueEncoding?: ValueEncoding;
}

export interface ResolvedOptions {
  path: string | null;
  readers: number;
  flushPolicy: FlushPolicy;
  codec: ValueCodec;
  /** Set when rangeScans: true. */
  rangeScans?: SnapshotLimits;
}

function invalid(message: string): EmdbError {
  return new EmdbError(ErrorCode.INVALID_CONFIG, message);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function validFlushPolicy(p: unknown): FlushPolicy {
  if (p === undefined) return { kind: 'onEachFlush' };
  if (!isPlainObject(p)) throw invalid('flushPolicy must be an object with a `kind`');
  switch (p.kind) {
    case 'onEachFlush':
      return { kind: 'onEachFlush' };
    case 'writeThrough':
      return { kind: 'writeThrough' };
    case 'group': {
      const maxWaitMs = p.maxWaitMs ?? 1;
      const maxBatch = p.maxBatch ?? os.availableParallelism();
      if (typeof maxWaitMs !== 'number' || !(maxWaitMs >= 0) || maxWaitMs > 10_000) {
        throw invalid('flushPolicy.maxWaitMs must be a number of milliseconds in [0, 10000]');
      }
      if (typeof maxBatch !== 'number' || !Number.isInteger(maxBatch) || maxBatch < 1) {
        throw invalid('flushPolicy.maxBatch must be a positive integer');
      }
      return { kind: 'group', maxWaitMs, maxBatch };
    }
    default:
      throw invalid(`unknown flushPolicy kind ${JSON.stringify(p.kind)}`);
  }
}

/**
 * Validates every option before anything touches the disk. Options this build
 * does not implement are refused loudly instead of being silently ignored.
 */
export function resolveOptions(options: OpenOptions, inMemory: boolean): ResolvedOptions {
  if (!isPlainObject(options as unknown)) throw invalid('options must be an object');
  const readers = options.readers ?? Math.min(os.availableParallelism(), 8);
  if (typeof readers !== 'number' || !Number.isInteger(readers) || readers < 1 || readers > 256) {
    throw invalid('readers must be an integer in [1, 256]');
  }
  const encoding = options.valueEncoding ?? 'binary';
  if (!VALUE_ENCODINGS.includes(encoding)) {
    throw invalid(`valueEncoding must be one of ${VALUE_ENCODINGS.join(', ')}`);
  }
  const rangeScans = resolveRangeScans(options.rangeScans, options.rangeSnapshotLimit);
  if (options.encryption !== undefined) {
    throw invalid('encryption is not available in this version of emdb-js');
  }
  if (options.defaultTtl !== undefined) {
    throw invalid('defaultTtl is not available in this version of emdb-js');
  }
  let path: string | null = null;
  if (inMemory) {
    if (options.path !== undefined || options.appName !== undefined || options.databaseName !== undefined || options.dataRoot !== undefined) {
      throw invalid('an in-memory database takes no path options');
    }
  } else {
    path = resolveDatabasePath(options);
  }
  return { path, readers, flushPolicy: validFlushPolicy(options.flushPolicy), codec: codecFor(encoding), ...(rangeScans ? { rangeScans } : {}) };
}
