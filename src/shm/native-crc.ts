import { createRequire } from 'node:module';

/**
 * The native CRC32, loaded on first use: reader-pool threads start without it
 * (the layer rule reader-thread-stays-light), and a thread that never checks a
 * page or a record read from the file never loads it.
 */
let crc32: ((data: Uint8Array, initial?: number) => number) | undefined;
export function nativeCrc32(): (data: Uint8Array, initial?: number) => number {
  crc32 ??= (createRequire(import.meta.url)('@node-rs/crc32') as { crc32: (data: Uint8Array, initial?: number) => number }).crc32;
  return crc32;
}
