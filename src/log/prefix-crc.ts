import { crc32 } from '@node-rs/crc32';
import { DATA_START, LOG_PAGE_BYTES, LOG_PAGE_SHIFT } from '../format/constants.js';
import type { PageCrcs } from '../format/page-crcs.js';
import type { MirrorView } from '../shm/mirror.js';

/**
 * CRC32 of the log bytes [from, to), continuing `initial` (the CRC of the bytes
 * before `from`; CRC32 streams, so crc(a ‖ b) = crc32(b, crc32(a))). Reads the
 * mirror segment by segment: a few GB/s, against one native call per record for
 * the record walk. With `pages` (entry k = the CRC at log page boundary k, see
 * format/page-crcs.ts, holding every boundary up to `from`), the running CRC is
 * also recorded at each page boundary passed: the same hashing, cut at pages.
 */
export function logCrc(mirror: MirrorView, from: number, to: number, initial: number, pages?: number[]): number {
  let crc = initial;
  for (let at = from; at < to; ) {
    const boundary = pages ? (Math.floor(at / LOG_PAGE_BYTES) + 1) * LOG_PAGE_BYTES : to;
    const chunk = mirror.logBytes(at, Math.min(to, boundary) - at);
    if (chunk.length === 0) throw new RangeError(`log byte ${at} is not in the mirror`);
    crc = crc32(chunk, crc);
    at += chunk.length;
    if (pages && at === boundary) pages[boundary / LOG_PAGE_BYTES] = crc;
  }
  return crc;
}

/** A fresh page CRC list for a walk from DATA_START: boundary 0 (and any below DATA_START) hashes nothing. */
export function startPages(): number[] {
  return [0];
}

/** Whether `pages` holds exactly the boundaries up to `lsn` (what the snapshot section needs). */
export function pagesCover(pages: readonly number[] | undefined, lsn: number): pages is number[] {
  return pages !== undefined && pages.length === Math.floor(lsn / LOG_PAGE_BYTES) + 1;
}

/**
 * The CRC of the log prefix [DATA_START, lsn), kept by the writer so a
 * checkpoint only hashes what was appended since the last one, with the CRC at
 * every page boundary before `lsn` (the snapshot's page CRC section).
 */
export class PrefixCrc {
  lsn = DATA_START;
  crc = 0;
  /** Boundary CRCs up to `lsn`; undefined when unknown (then recomputed by pageCrcs). */
  private pages: number[] | undefined = startPages();

  /** The CRC of [DATA_START, to); `to` must not be below the covered prefix. */
  upTo(mirror: MirrorView, to: number): number {
    if (to < this.lsn) throw new RangeError(`prefix CRC covers ${this.lsn}, asked for ${to}`);
    const pages = pagesCover(this.pages, this.lsn) ? this.pages : undefined;
    this.crc = logCrc(mirror, this.lsn, to, this.crc, pages);
    this.lsn = to;
    this.pages = pages;
    return this.crc;
  }

  /** Boundary CRCs of [DATA_START, lsn) (entry k: the CRC before log page k), when known: what a page read back from the file is checked against. */
  boundaries(): readonly number[] | undefined {
    return pagesCover(this.pages, this.lsn) ? this.pages : undefined;
  }

  reset(lsn: number, crc: number, pages?: number[]): void {
    this.lsn = lsn;
    this.crc = crc;
    this.pages = pagesCover(pages, lsn) ? pages : undefined;
  }

  /**
   * The page CRC table of [DATA_START, lsn) (call upTo first). When the
   * boundaries are unknown (after a compaction, which hashes its new log once
   * without them) they are recomputed here, once, from the mirror.
   */
  pageCrcs(mirror: MirrorView): PageCrcs {
    if (!pagesCover(this.pages, this.lsn)) {
      const pages = startPages();
      logCrc(mirror, DATA_START, this.lsn, 0, pages);
      this.pages = pages;
    }
    return { pageShift: LOG_PAGE_SHIFT, crcs: Uint32Array.from(this.pages!) };
  }
}
