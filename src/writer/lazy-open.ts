import { LOG_PAGE_BYTES, LOG_PAGE_SHIFT } from '../format/constants.js';
import type { ChosenSlot } from '../format/header.js';
import { readFully, type FileIO } from '../log/file-io.js';
import { EmdbError, ErrorCode } from '../errors.js';
import { logCrc } from '../log/prefix-crc.js';
import { loadMirror } from '../log/recovery.js';
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

/** False when EMDB_LAZY_WARM=0: the writer then loads pages only where it reads them (a test setting). */
export function lazyWarmInBackground(): boolean {
  return typeof process === 'undefined' || process.env.EMDB_LAZY_WARM !== '0';
}

/**
 * Whether this open may leave the log's pages on disk until they are read: a
 * plaintext log with a snapshot that carries page CRCs, a header slot at or
 * after the snapshot's tail with a prefix CRC (the snapshot is then checked
 * against the slot before it is trusted: openLazily), and `recovery: 'strict'`.
 * After a clean close the slot and the snapshot have the same tail; after a
 * crash the bytes past the snapshot's tail are read and replayed as usual.
 */
export function canOpenLazily(snapshot: LoadedSnapshot | undefined, slot: ChosenSlot, size: number, strict: boolean, encrypted: boolean, minBytes: number): snapshot is LoadedSnapshot & { pages: NonNullable<LoadedSnapshot['pages']> } {
  if (!snapshot?.pages || encrypted || !strict || size < minBytes) return false;
  const { header, pages } = snapshot;
  return chainsToSlot(header.tail, header.prefixCrc, slot, size) && pages.pageShift === LOG_PAGE_SHIFT && pages.crcs.length === Math.floor(header.tail / LOG_PAGE_BYTES) + 1;
}

/**
 * The same for an encrypted log read through the page cache (sealed units):
 * a snapshot that carries the unit directory up to its tail. Its pages are
 * never read at open; each unit is authenticated when a thread first reads
 * it (shm/sealed-file.ts), so damage is met there, as in a lazy plaintext log.
 */
export function canOpenSealedLazily(snapshot: LoadedSnapshot | undefined, slot: ChosenSlot, size: number, strict: boolean, minBytes: number): snapshot is LoadedSnapshot & { units: NonNullable<LoadedSnapshot['units']> } {
  if (!snapshot?.units || !strict || size < minBytes) return false;
  const { header, units } = snapshot;
  return chainsToSlot(header.tail, header.prefixCrc, slot, size) && units.pageShift === LOG_PAGE_SHIFT && units.items.length === Math.ceil(header.tail / LOG_PAGE_BYTES);
}

/** A slot with a prefix CRC at or after the snapshot's tail, inside the file, and the same CRC when at the same tail (the rest is checked by continuing the CRC). */
function chainsToSlot(tail: number, prefixCrc: number, slot: ChosenSlot, size: number): boolean {
  return slot.prefixCrc !== undefined && slot.tailHint >= tail && size >= slot.tailHint && (slot.tailHint > tail || slot.prefixCrc === prefixCrc);
}

/**
 * Prepares `mirror` for a lazily opened log of `size` bytes: segments grown to
 * the file (untouched memory costs nothing until a page is loaded), the header
 * pages copied in, the bytes after the snapshot's tail read (a crash's
 * records, to replay), and a page loader over a read-only descriptor of its
 * own, which the writer closes once every page is resident (rule L3).
 * Returns the prefix CRC state at the slot's tail hint, or undefined when the
 * snapshot does not chain to the slot (CRC of the snapshot's prefix continued
 * over [tail, tail hint) differs from the slot's): the caller then reads and
 * checks the whole log as before.
 */
export function openLazily(
  io: FileIO,
  file: string,
  logFd: number,
  mirror: MirrorWriter,
  header: Uint8Array,
  size: number,
  slot: ChosenSlot,
  snapshot: LoadedSnapshot & { pages: NonNullable<LoadedSnapshot['pages']> },
): { lsn: number; crc: number; pages: number[] } | undefined {
  const tail = snapshot.header.tail;
  mirror.extendTo(size);
  mirror.write(0, header);
  loadMirror(mirror, io, logFd, size, tail);
  const pages = Array.from(snapshot.pages.crcs);
  const crc = logCrc(mirror, tail, slot.tailHint, snapshot.header.prefixCrc, pages);
  if (crc !== slot.prefixCrc) return undefined;
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
  const spec = LazyPages.create(tail, snapshot.header.prefixCrc, snapshot.pages.crcs, fd);
  mirror.pages = new LazyPages(spec, mirror.buffers, io.read.bind(io));
  return { lsn: slot.tailHint, crc, pages };
}
