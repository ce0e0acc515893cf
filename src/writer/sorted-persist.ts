import { decodeSortedSectionHeader, encodeSortedSectionHeader, SORTED_SECTION_HEADER_SIZE, validRun } from '../format/sorted-snapshot.js';
import { crc32 } from '@node-rs/crc32';
import { SNAPSHOT, SNAPSHOT_HEADER_SIZE, SnapshotSection } from '../format/constants.js';
import { encodeSnapshotHeader, type SnapshotHeader } from '../format/snapshot.js';
import { SNAPSHOT_SALT_SIZE, type SnapshotSealer } from '../crypto/snapshot-crypt.js';
import { TAG_SIZE } from '../crypto/aead.js';
import { readFully, writeFully, type FileIO } from '../log/file-io.js';
import { SortedRunHeader } from '../shm/layout.js';
import { newBufferId } from '../shm/sorted-run.js';
import type { LogState } from '../log/log-state.js';

/** Whether writeSortedSection writes a section for `state` (the snapshot header's SORTED_INDEX bit). */
export function hasSortedSection(state: LogState): boolean {
  const sorted = state.sorted;
  return sorted !== undefined && sorted.runs.length === 1 && sorted.tailEntries === 0;
}

/**
 * Encrypted database: the run holds every key in the clear, so the section's
 * payload is salt ‖ sealed run instead (its own HKDF key, like the body). The
 * associated data is the snapshot header's [FILE_ID, BODY_BYTES) plus a label,
 * so a section cannot be moved to another snapshot nor pass for the body.
 */
export interface SortedSeal {
  sealer: SnapshotSealer;
  /** The snapshot header bytes [FILE_ID, BODY_BYTES). */
  aad: Uint8Array;
}

const SORTED_AAD_LABEL = new TextEncoder().encode('emdb-js sorted section');

function sectionAad(headerAad: Uint8Array): Uint8Array {
  const aad = new Uint8Array(headerAad.length + SORTED_AAD_LABEL.length);
  aad.set(headerAad);
  aad.set(SORTED_AAD_LABEL, headerAad.length);
  return aad;
}

/**
 * Appends the sorted section (src/format/sorted-snapshot.ts) after the
 * snapshot body at `at`, when the state has a sorted index. The caller has
 * collapsed it to one run, so the section is that run's bytes (sealed when
 * `seal` is given).
 */
export function writeSortedSection(io: FileIO, fd: number, at: number, state: LogState, tail: number, prefixCrc: number, seal?: SortedSeal): void {
  const sorted = state.sorted;
  if (!hasSortedSection(state) || !sorted) return;
  const run = new Uint8Array(sorted.runs[0]!);
  const start = at + SORTED_SECTION_HEADER_SIZE;
  let end = start;
  let crc = 0;
  const put = (bytes: Uint8Array): void => {
    writeFully(io, fd, bytes, 0, bytes.length, end);
    end += bytes.length;
    crc = crc32(bytes, crc);
  };
  if (seal) {
    // Sealed as it is written, from the run's own shared buffer: no copy of the run's size (aead.ts, sealStream).
    const stream = seal.sealer.sealStream(sectionAad(seal.aad));
    put(stream.salt);
    stream.update(run, put);
    put(stream.final());
  } else {
    put(run);
  }
  const header = encodeSortedSectionHeader(end - start, crc, tail, prefixCrc);
  writeFully(io, fd, header, 0, header.length, at);
}

/**
 * The persisted sorted run for the snapshot `snap` (already validated and
 * matched to the log), or undefined: no section (the last snapshot was written
 * by an open without rangeScans, or by an older build), a section of another
 * snapshot, or any failed check. The caller then rebuilds from the hash index.
 */
export function readSortedSection(io: FileIO, snapshotFile: string, snap: SnapshotHeader, sealer?: SnapshotSealer): SharedArrayBuffer | undefined {
  if ((snap.sections & SnapshotSection.SORTED_INDEX) === 0) return undefined;
  let fd = -1;
  try {
    fd = io.open(snapshotFile, 'r');
    const at = SNAPSHOT_HEADER_SIZE + snap.bodyBytes;
    const size = io.size(fd);
    if (size < at + SORTED_SECTION_HEADER_SIZE) return undefined;
    const hb = new Uint8Array(SORTED_SECTION_HEADER_SIZE);
    if (readFully(io, fd, hb, 0, hb.length, at) !== hb.length) return undefined;
    const h = decodeSortedSectionHeader(hb);
    // Tied to this very snapshot: the same log prefix, by tail and CRC.
    if (!h || h.tail !== snap.tail || h.prefixCrc !== snap.prefixCrc || h.runBytes !== size - at - SORTED_SECTION_HEADER_SIZE) return undefined;
    // Sealed: salt ‖ sealed run ‖ tag; the run is read into the shared buffer it will live in and decrypted there.
    const salt = new Uint8Array(sealer ? SNAPSHOT_SALT_SIZE : 0);
    const tag = new Uint8Array(sealer ? TAG_SIZE : 0);
    if (h.runBytes < salt.length + tag.length) return undefined;
    const sab = new SharedArrayBuffer(h.runBytes - salt.length - tag.length);
    const run = new Uint8Array(sab);
    let pos = at + SORTED_SECTION_HEADER_SIZE;
    let crc = 0;
    for (const part of [salt, run, tag]) {
      if (readFully(io, fd, part, 0, part.length, pos) !== part.length) return undefined;
      crc = crc32(part, crc);
      pos += part.length;
    }
    if (crc !== h.runCrc) return undefined;
    if (sealer) {
      const aad = sectionAad(encodeSnapshotHeader(snap).slice(SNAPSHOT.FILE_ID, SNAPSHOT.BODY_BYTES));
      if (!sealer.openParts(salt, aad, [run], tag)) return undefined;
    }
    if (!validRun(run, snap.tail)) return undefined;
    // Ids are per open: a loaded run gets a fresh one.
    new DataView(sab).setUint32(SortedRunHeader.ID * 4, newBufferId(), true);
    return sab;
  } catch {
    return undefined;
  } finally {
    if (fd >= 0) {
      try {
        io.close(fd);
      } catch {
        // a read-only descriptor of a cache file
      }
    }
  }
}
