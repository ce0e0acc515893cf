import { crc32 } from '@node-rs/crc32';
import { DATA_START, FILE_ID_SIZE, SNAPSHOT, SNAPSHOT_HEADER_SIZE, SnapshotSection } from '../format/constants.js';
import type { SnapshotSealer } from '../crypto/snapshot-crypt.js';
import { TAG_SIZE } from '../crypto/aead.js';
import type { PrefetchedSnapshot } from '../protocol.js';
import { decodeDeadlineSection, encodeDeadlineSection } from '../format/deadline-snapshot.js';
import { decodePageCrcSection, encodePageCrcSection, type PageCrcs } from '../format/page-crcs.js';
import { decodeUnitDirectorySection, encodeUnitDirectorySection, type UnitDirectoryEntries } from '../format/unit-directory-section.js';
import { decodeCatalogue, decodeSnapshotHeader, encodeCatalogue, encodeSnapshotHeader, snapshotCapacityPlausible, snapshotPath, type SnapshotHeader } from '../format/snapshot.js';
import { dirOf, readFully, writeFully, type FileIO } from '../log/file-io.js';
import { IndexWriter } from '../shm/index-table.js';
import { IndexHeader, indexBytes } from '../shm/layout.js';
import type { MirrorWriter } from '../shm/mirror.js';
import { hasSortedSection, writeSortedSection } from './sorted-persist.js';
import { LogState } from '../log/log-state.js';

/**
 * The index snapshot: what replaying the log prefix [DATA_START, tail) derives
 * (the shared index table, namespace catalogue, live counts, byte accounting),
 * saved beside the log as `<path>.index` at checkpoints so a reopen replays only
 * the records after `tail`. It is a cache: open uses it only when the log bytes
 * it was made from are provably still there (same file id, CRC of the prefix),
 * and otherwise replays the whole log.
 */

export interface LoadedSnapshot {
  header: SnapshotHeader;
  /** The log's page CRCs up to the tail (section PAGE_CRCS), when the snapshot has them: a reopen may then load the log lazily. */
  pages: PageCrcs | undefined;
  /** An encrypted log's unit directory up to the tail (section UNIT_DIRECTORY): a reopen through the page cache may then be lazy. */
  units: UnitDirectoryEntries | undefined;
  /** Builds the LogState over `mirror`; call only after the prefix CRC matched. */
  state(mirror: MirrorWriter): LogState;
}

/**
 * Writes the snapshot of `state`, which must be the state after exactly the log
 * bytes [DATA_START, tail): temp file, fdatasync, rename, directory fsync, so
 * the previous snapshot stays in place until the new one is complete. Throws on
 * I/O errors after removing the temp file; the log is not involved, so the
 * caller decides (a checkpoint carries on without a new snapshot).
 */
export function writeSnapshot(
  io: FileIO,
  dbFile: string,
  state: LogState,
  fileId: Uint8Array,
  tail: number,
  prefixCrc: number,
  sealer?: SnapshotSealer,
  lazy?: { pages?: PageCrcs | undefined; units?: UnitDirectoryEntries | undefined },
): void {
  // Page CRCs describe a plaintext log, a unit directory a sealed one: the other kind is never written.
  const pages = sealer ? undefined : lazy?.pages;
  const units = sealer ? lazy?.units : undefined;
  const target = snapshotPath(dbFile);
  const tmp = `${target}.tmp`;
  // An orphan of a crashed checkpoint; the name is ours.
  if (io.exists(tmp)) io.unlink(tmp);
  const index = new Uint8Array(state.index.buffer);
  const catalogue = encodeCatalogue({
    namespaces: [...state.namespaces].map(([id, name]) => [id, name, state.nsEncodings.get(id) ?? 0]),
    counts: [...state.counts],
  });
  // SnapshotSection.EXPIRY: the body ends with the deadline heap (format/deadline-snapshot.ts), always
  // written (even empty) so that a snapshot without the bit is known not to carry the deadlines.
  const heap = state.deadlines.entries();
  // SnapshotSection.PAGE_CRCS (plaintext logs) or UNIT_DIRECTORY (sealed ones) ends the body, after the deadlines.
  const deadlineSection = encodeDeadlineSection(heap.deadlines, heap.lsns);
  const trailer = pages ? encodePageCrcSection(pages) : units ? encodeUnitDirectorySection(units) : undefined;
  const deadlines = trailer ? Buffer.concat([deadlineSection, trailer]) : deadlineSection;
  const fields = {
    fileId,
    tail,
    prefixCrc,
    indexCapacity: state.index.capacity,
    indexLive: state.index.live,
    indexDeleted: state.index.deleted,
    liveBytes: state.liveBytes,
    deadBytes: state.deadBytes,
    nextNamespaceId: state.nextNamespaceId,
    namespaces: state.namespaces.size,
    counts: state.counts.size,
    bodyBytes: index.length + catalogue.length + deadlines.length,
    // Sealed: the header is written again with the sealed body's CRC (below), so the plaintext is not hashed.
    bodyCrc: sealer ? 0 : crc32(deadlines, crc32(catalogue, crc32(index))),
    sections: (hasSortedSection(state) ? SnapshotSection.SORTED_INDEX : 0) | SnapshotSection.EXPIRY | (pages ? SnapshotSection.PAGE_CRCS : 0) | (units ? SnapshotSection.UNIT_DIRECTORY : 0),
  };
  let header = encodeSnapshotHeader(fields);
  // Encrypted database: the body (hash tags, namespace names, deadlines) is sealed; the header fields [16, 92) are its associated data.
  const aad = header.slice(SNAPSHOT.FILE_ID, SNAPSHOT.BODY_BYTES);
  const fd = io.open(tmp, 'wx', dbFile);
  try {
    let bodyEnd = SNAPSHOT_HEADER_SIZE;
    let sealedCrc = 0;
    const put = (bytes: Uint8Array): void => {
      writeFully(io, fd, bytes, 0, bytes.length, bodyEnd);
      bodyEnd += bytes.length;
    };
    if (sealer) {
      // Sealed a chunk at a time from where the parts are (the index from its shared buffer), then the header
      // that names the sealed body's length, CRC and salt (the file is renamed into place only once synced).
      const stream = sealer.sealStream(aad);
      const emit = (sealed: Uint8Array): void => {
        sealedCrc = crc32(sealed, sealedCrc);
        put(sealed);
      };
      for (const part of [index, catalogue, deadlines]) stream.update(part, emit);
      emit(stream.final());
      header = encodeSnapshotHeader({ ...fields, bodyBytes: bodyEnd - SNAPSHOT_HEADER_SIZE, bodyCrc: sealedCrc }, stream.salt);
    } else {
      for (const part of [index, catalogue, deadlines]) put(part);
    }
    writeFully(io, fd, header, 0, header.length, 0);
    // rangeScans: the sorted index follows the body in its own section (format/sorted-snapshot.ts), sealed too when encrypted.
    writeSortedSection(io, fd, bodyEnd, state, tail, prefixCrc, sealer && { sealer, aad });
    io.fdatasync(fd);
  } catch (err) {
    closeQuietly(io, fd);
    removeQuietly(io, tmp);
    throw err;
  }
  io.close(fd);
  try {
    io.rename(tmp, target);
  } catch (err) {
    removeQuietly(io, tmp);
    throw err;
  }
  io.fsyncDir(dirOf(target));
}

/**
 * Reads and checks the snapshot beside `dbFile`: its own checksums, the file id
 * of the log, a tail inside the checkpointed part of the log, and a well-formed
 * index table. undefined when it is missing or fails any check (including an
 * I/O error): the caller replays the whole log instead. The prefix CRC is left
 * to the caller, which hashes the log once for every purpose.
 */
export function readSnapshot(
  io: FileIO,
  dbFile: string,
  fileId: Uint8Array,
  tailHint: number,
  sealer?: SnapshotSealer,
  prefetched?: PrefetchedSnapshot,
): LoadedSnapshot | undefined {
  const file = snapshotPath(dbFile);
  let fd = -1;
  try {
    if (!io.exists(file)) return undefined;
    fd = io.open(file, 'r');
    const size = io.size(fd);
    const headerBytes = new Uint8Array(SNAPSHOT_HEADER_SIZE);
    if (readFully(io, fd, headerBytes, 0, headerBytes.length, 0) !== headerBytes.length) return undefined;
    const header = decodeSnapshotHeader(headerBytes);
    if (!header || !sameId(header.fileId, fileId)) return undefined;
    if (header.tail < DATA_START || header.tail > tailHint) return undefined;
    const capacity = header.indexCapacity;
    if (!snapshotCapacityPlausible(capacity)) return undefined;
    if (header.indexLive + header.indexDeleted > capacity) return undefined;
    const tableBytes = indexBytes(capacity);
    // Bytes after the body are the sorted section (rangeScans), read on its own by sorted-persist.ts.
    const hasSection = (header.sections & SnapshotSection.SORTED_INDEX) !== 0;
    const bodyFits = hasSection ? header.bodyBytes <= size - SNAPSHOT_HEADER_SIZE : header.bodyBytes === size - SNAPSHOT_HEADER_SIZE;
    if (!bodyFits || header.bodyBytes < tableBytes) return undefined;
    // An encrypted body ends with its tag: the table's bytes are still the body's first (stream ciphers).
    const tagBytes = sealer ? TAG_SIZE : 0;
    if (header.bodyBytes < tableBytes + tagBytes) return undefined;
    // Straight into the shared buffer the index will live in: no copy after the read. The opener's read
    // of the same bytes stands in for this one when its header is this header (the body CRC below covers the table).
    const reuse = prefetched !== undefined && prefetched.table.byteLength === tableBytes && sameBytes(prefetched.header, headerBytes);
    const table = reuse ? prefetched.table : new SharedArrayBuffer(tableBytes);
    const tableU8 = new Uint8Array(table);
    const rest = new Uint8Array(header.bodyBytes - tableBytes);
    if (!reuse && readFully(io, fd, tableU8, 0, tableBytes, SNAPSHOT_HEADER_SIZE) !== tableBytes) return undefined;
    if (readFully(io, fd, rest, 0, rest.length, SNAPSHOT_HEADER_SIZE + tableBytes) !== rest.length) return undefined;
    if (crc32(rest, crc32(tableU8)) !== header.bodyCrc) return undefined;
    let catalogueBytes = rest.subarray(0, rest.length - tagBytes);
    // Encrypted database: the body is sealed (FORMAT.md, "Encryption"); one that does not authenticate is ignored.
    // It is decrypted where it was read: the table in its shared buffer, the rest in its own.
    if (sealer && !sealer.openParts(headerBytes.slice(SNAPSHOT.SEAL_SALT, SNAPSHOT.CRC), headerBytes.slice(SNAPSHOT.FILE_ID, SNAPSHOT.BODY_BYTES), [tableU8, catalogueBytes], rest.subarray(catalogueBytes.length))) {
      return undefined;
    }
    const words = new Int32Array(table, 0, 2);
    if (words[IndexHeader.CAPACITY] !== capacity || words[IndexHeader.MASK] !== capacity - 1) return undefined;
    // Without the EXPIRY section (an older build wrote it) the deadlines are unknown: replay the log instead.
    if ((header.sections & SnapshotSection.EXPIRY) === 0) return undefined;
    let pages: ReturnType<typeof decodePageCrcSection>;
    if ((header.sections & SnapshotSection.PAGE_CRCS) !== 0) {
      pages = decodePageCrcSection(catalogueBytes);
      if (!pages) return undefined;
      catalogueBytes = catalogueBytes.subarray(0, catalogueBytes.length - pages.size);
    }
    let units: ReturnType<typeof decodeUnitDirectorySection>;
    if ((header.sections & SnapshotSection.UNIT_DIRECTORY) !== 0) {
      // Only inside a sealed body: in a plaintext one nothing would vouch for it.
      units = sealer ? decodeUnitDirectorySection(catalogueBytes, DATA_START) : undefined;
      if (!units || pages) return undefined;
      catalogueBytes = catalogueBytes.subarray(0, catalogueBytes.length - units.size);
    }
    const deadlines = decodeDeadlineSection(catalogueBytes);
    if (!deadlines) return undefined;
    const catalogue = decodeCatalogue(catalogueBytes.subarray(0, catalogueBytes.length - deadlines.size), header.namespaces, header.counts, header.version);
    if (!catalogue) return undefined;
    return {
      header,
      pages: pages && { pageShift: pages.pageShift, crcs: pages.crcs },
      units: units && { pageShift: units.pageShift, items: units.items },
      state(mirror: MirrorWriter): LogState {
        const index = new IndexWriter(table);
        index.live = header.indexLive;
        index.deleted = header.indexDeleted;
        const state = new LogState(index, mirror);
        state.liveBytes = header.liveBytes;
        state.deadBytes = header.deadBytes;
        state.nextNamespaceId = header.nextNamespaceId;
        for (const [id, name, encoding] of catalogue.namespaces) {
          state.namespaces.set(id, name);
          if (encoding !== 0) state.nsEncodings.set(id, encoding);
        }
        for (const [id, live] of catalogue.counts) state.counts.set(id, live);
        state.deadlines.load(deadlines.deadlines, deadlines.lsns);
        // An upper bound (stale entries included): it only delays the heap's next rebuild.
        state.ttlLive = deadlines.deadlines.length;
        return state;
      },
    };
  } catch {
    // A cache that cannot be read is a cache miss, never an open failure.
    return undefined;
  } finally {
    if (fd >= 0) closeQuietly(io, fd);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameId(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === FILE_ID_SIZE && sameBytes(a, b);
}

function removeQuietly(io: FileIO, file: string): void {
  try {
    io.unlink(file);
  } catch {
    // the original error is the one to report; the next writer removes the orphan
  }
}

function closeQuietly(io: FileIO, fd: number): void {
  try {
    io.close(fd);
  } catch {
    // a snapshot descriptor: the error that matters is reported elsewhere
  }
}
