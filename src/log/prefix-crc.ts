import { crc32 } from '@node-rs/crc32';
import { DATA_START } from '../format/constants.js';
import type { MirrorView } from '../shm/mirror.js';

/**
 * CRC32 of the log bytes [from, to), continuing `initial` (the CRC of the bytes
 * before `from`; CRC32 streams, so crc(a ‖ b) = crc32(b, crc32(a))). Reads the
 * mirror segment by segment: a few GB/s, against one native call per record for
 * the record walk.
 */
export function logCrc(mirror: MirrorView, from: number, to: number, initial: number): number {
  let crc = initial;
  for (let at = from; at < to; ) {
    const chunk = mirror.logBytes(at, to - at);
    if (chunk.length === 0) throw new RangeError(`log byte ${at} is not in the mirror`);
    crc = crc32(chunk, crc);
    at += chunk.length;
  }
  return crc;
}

/**
 * The CRC of the log prefix [DATA_START, lsn), kept by the writer so a
 * checkpoint only hashes what was appended since the last one.
 */
export class PrefixCrc {
  lsn = DATA_START;
  crc = 0;

  /** The CRC of [DATA_START, to); `to` must not be below the covered prefix. */
  upTo(mirror: MirrorView, to: number): number {
    if (to < this.lsn) throw new RangeError(`prefix CRC covers ${this.lsn}, asked for ${to}`);
    this.crc = logCrc(mirror, this.lsn, to, this.crc);
    this.lsn = to;
    return this.crc;
  }

  reset(lsn: number, crc: number): void {
    this.lsn = lsn;
    this.crc = crc;
  }
}
