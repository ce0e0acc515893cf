import { decodeSortedSectionHeader, encodeSortedSectionHeader, SORTED_SECTION_HEADER_SIZE, validRun } from '../format/sorted-snapshot.js';
import { crc32 } from '@node-rs/crc32';
import { SNAPSHOT_HEADER_SIZE, SnapshotSection } from '../format/constants.js';
import type { SnapshotHeader } from '../format/snapshot.js';
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
 * Appends the sorted section (src/format/sorted-snapshot.ts) after the
 * snapshot body at `at`, when the state has a sorted index. The caller has
 * collapsed it to one run, so the section is that run's bytes.
 */
export function writeSortedSection(io: FileIO, fd: number, at: number, state: LogState, tail: number, prefixCrc: number): void {
  const sorted = state.sorted;
  if (!hasSortedSection(state) || !sorted) return;
  const run = new Uint8Array(sorted.runs[0]!);
  const header = encodeSortedSectionHeader(run, tail, prefixCrc);
  writeFully(io, fd, header, 0, header.length, at);
  writeFully(io, fd, run, 0, run.length, at + header.length);
}

/**
 * The persisted sorted run for the snapshot `snap` (already validated and
 * matched to the log), or undefined: no section (the last snapshot was written
 * by an open without rangeScans, or by an older build), a section of another
 * snapshot, or any failed check. The caller then rebuilds from the hash index.
 */
export function readSortedSection(io: FileIO, snapshotFile: string, snap: SnapshotHeader): SharedArrayBuffer | undefined {
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
    const sab = new SharedArrayBuffer(h.runBytes);
    const run = new Uint8Array(sab);
    if (readFully(io, fd, run, 0, run.length, at + SORTED_SECTION_HEADER_SIZE) !== run.length) return undefined;
    if (crc32(run) !== h.runCrc || !validRun(run, snap.tail)) return undefined;
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
