import { LOG_PAGE_BYTES, LOG_PAGE_SHIFT } from '../format/constants.js';
import type { ChosenSlot } from '../format/header.js';
import { readFully, type FileIO } from '../log/file-io.js';
import { EmdbError, ErrorCode } from '../errors.js';
import { LazyPages } from '../shm/lazy-pages.js';
import type { MirrorWriter } from '../shm/mirror.js';
import type { LoadedSnapshot } from './snapshot.js';

/**
 * Below this many log bytes a reopen reads and checks the whole log at once:
 * about 30 ms here, and damage anywhere is then an open error. Above it, a
 * reopen after a clean close reads only what it needs (docs/DESIGN.md, "Lazy
 * log pages"). EMDB_LAZY_OPEN_MIN_BYTES overrides it (the test suites use 0).
 */
export const LAZY_OPEN_MIN_BYTES = 32 * 1024 * 1024;

export function lazyOpenMinBytes(): number {
  const env = typeof process !== 'undefined' ? process.env.EMDB_LAZY_OPEN_MIN_BYTES : undefined;
  const n = env === undefined || env === '' ? NaN : Number(env);
  return Number.isFinite(n) && n >= 0 ? n : LAZY_OPEN_MIN_BYTES;
}

/**
 * Whether this open may leave the log's pages on disk until they are read: a
 * plaintext log whose last checkpoint wrote the snapshot (same tail, same
 * prefix CRC: the snapshot describes exactly the checkpointed bytes), with
 * the page CRCs to check each page against, and nothing after the tail (a
 * clean close; after a crash the whole log is read and checked as before).
 */
export function canOpenLazily(snapshot: LoadedSnapshot | undefined, slot: ChosenSlot, size: number, strict: boolean, encrypted: boolean, minBytes: number): snapshot is LoadedSnapshot & { pages: NonNullable<LoadedSnapshot['pages']> } {
  if (!snapshot?.pages || encrypted || !strict || size < minBytes) return false;
  const { header, pages } = snapshot;
  return (
    slot.prefixCrc !== undefined &&
    slot.tailHint === header.tail &&
    slot.prefixCrc === header.prefixCrc &&
    size === header.tail &&
    pages.pageShift === LOG_PAGE_SHIFT &&
    pages.crcs.length === Math.floor(header.tail / LOG_PAGE_BYTES) + 1
  );
}

/**
 * Prepares `mirror` for a lazily opened log of `size` bytes: segments grown to
 * the file (untouched memory costs nothing until a page is loaded), the header
 * pages copied in, and a page loader over a read-only descriptor of its own,
 * which the writer closes once every page is resident (rule L3).
 */
export function openLazily(io: FileIO, file: string, mirror: MirrorWriter, header: Uint8Array, size: number, snapshot: LoadedSnapshot & { pages: NonNullable<LoadedSnapshot['pages']> }): void {
  mirror.extendTo(size);
  mirror.write(0, header);
  const fd = io.open(file, 'r');
  try {
    // The file is the one whose header we read: the descriptor must see the same bytes.
    const again = new Uint8Array(header.length);
    if (readFully(io, fd, again, 0, again.length, 0) !== again.length || !again.every((b, i) => b === header[i])) {
      throw new EmdbError(ErrorCode.IO, `${file} changed while it was being opened`);
    }
  } catch (err) {
    io.close(fd);
    throw err;
  }
  const spec = LazyPages.create(snapshot.header.tail, snapshot.header.prefixCrc, snapshot.pages.crcs, fd);
  mirror.pages = new LazyPages(spec, mirror.buffers, io.read.bind(io));
}
