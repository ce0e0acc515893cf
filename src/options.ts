import os from 'node:os';
import { codecFor, VALUE_ENCODINGS, type ValueCodec, type ValueEncoding } from './encodings.js';
import { EmdbError, ErrorCode } from './errors.js';
import { resolveDatabasePath } from './paths.js';
import type { FlushPolicy } from './protocol.js';

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
  defaultTtl?: number;
  encryption?: EncryptionOptions;
  valueEncoding?: ValueEncoding;
  /**
   * What open does with damage after the last checkpoint that a later durable
   * mark proves was durable: 'strict' (default) refuses with
   * ERR_EMDB_CORRUPTION and leaves the file untouched; 'salvage' cuts the log
   * at the damage and reports it in stats().recovery (docs/FORMAT.md, "Recovery").
   */
  recovery?: RecoveryMode;
}

export type RecoveryMode = 'strict' | 'salvage';
export const RECOVERY_MODES: readonly RecoveryMode[] = ['strict', 'salvage'];

export interface ResolvedOptions {
  path: string | null;
  readers: number;
  flushPolicy: FlushPolicy;
  codec: ValueCodec;
  recovery?: RecoveryMode;
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
  if (options.rangeScans !== undefined && typeof options.rangeScans !== 'boolean') {
    throw invalid('rangeScans must be a boolean');
  }
  if (options.rangeScans === true) {
    throw invalid('rangeScans is not available in this version of emdb-js');
  }
  if (options.encryption !== undefined) {
    throw invalid('encryption is not available in this version of emdb-js');
  }
  if (options.defaultTtl !== undefined) {
    throw invalid('defaultTtl is not available in this version of emdb-js');
  }
  const recovery = options.recovery ?? 'strict';
  if (!RECOVERY_MODES.includes(recovery)) {
    throw invalid(`recovery must be one of ${RECOVERY_MODES.map((m) => `'${m}'`).join(', ')}, got ${JSON.stringify(recovery)}`);
  }
  let path: string | null = null;
  if (inMemory) {
    if (options.path !== undefined || options.appName !== undefined || options.databaseName !== undefined || options.dataRoot !== undefined) {
      throw invalid('an in-memory database takes no path options');
    }
  } else {
    path = resolveDatabasePath(options);
  }
  return { path, readers, flushPolicy: validFlushPolicy(options.flushPolicy), codec: codecFor(encoding), recovery };
}
