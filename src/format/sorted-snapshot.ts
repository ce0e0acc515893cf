import { crc32 } from '@node-rs/crc32';
import { fieldOffsets } from './field-offsets.js';
import { SORTED_ENTRY_HEADER_BYTES, SORTED_RUN_HEADER_BYTES, SORTED_TOMBSTONE_HI, SortedEntry, SortedRunHeader, sortedEntryBytes } from './sorted-entry.js';
import { readU64, writeU64 } from './u64.js';

/**
 * The sorted-index section of the index snapshot `<path>.index` (docs/FORMAT.md,
 * "Index snapshot", sorted section): written after the snapshot body when the
 * database is open with rangeScans, so a reopen loads the sorted index instead
 * of sorting every key again. It is tied to the snapshot it follows by the
 * tail and the prefix CRC; anything that does not check out is ignored and the
 * sorted index is rebuilt from the hash index (never trusted partly).
 *
 * Layout (little-endian):
 *   0  magic "EMDBSRT\n"       8  version u32 (1)     12 header size u32 (48)
 *   16 tail u64 (= the snapshot's)                      24 prefix CRC u32 (= the snapshot's)
 *   28 run bytes u64          36 run CRC u32          40 reserved u32
 *   44 header CRC u32 (of bytes 0..44)
 *   48 the run, byte for byte as in shared memory (src/shm/layout.ts): count,
 *      id, reserved, the u32 entry offsets, the entries.
 */
export const SORTED_SECTION_MAGIC = Uint8Array.from([0x45, 0x4d, 0x44, 0x42, 0x53, 0x52, 0x54, 0x0a]); // "EMDBSRT\n"
export const SORTED_SECTION_VERSION = 1;
const section = fieldOffsets({
  MAGIC: SORTED_SECTION_MAGIC.length, VERSION: 4, HEADER_SIZE: 4,
  TAIL: 8, PREFIX_CRC: 4, RUN_BYTES: 8, RUN_CRC: 4, RESERVED: 4, CRC: 4,
});
/** Offsets of the section header's fields. */
export const SORTED_SECTION = section.offsets;
export const SORTED_SECTION_HEADER_SIZE = section.end;

/** The section header for a run of `runBytes` bytes whose CRC32 is `runCrc`, describing the log prefix [DATA_START, tail) with CRC `prefixCrc`. */
export function encodeSortedSectionHeader(runBytes: number, runCrc: number, tail: number, prefixCrc: number): Uint8Array {
  const buf = new Uint8Array(SORTED_SECTION_HEADER_SIZE);
  const dv = new DataView(buf.buffer);
  buf.set(SORTED_SECTION_MAGIC, SORTED_SECTION.MAGIC);
  dv.setUint32(SORTED_SECTION.VERSION, SORTED_SECTION_VERSION, true);
  dv.setUint32(SORTED_SECTION.HEADER_SIZE, SORTED_SECTION_HEADER_SIZE, true);
  writeU64(dv, SORTED_SECTION.TAIL, tail);
  dv.setUint32(SORTED_SECTION.PREFIX_CRC, prefixCrc >>> 0, true);
  writeU64(dv, SORTED_SECTION.RUN_BYTES, runBytes);
  dv.setUint32(SORTED_SECTION.RUN_CRC, runCrc >>> 0, true);
  dv.setUint32(SORTED_SECTION.CRC, crc32(buf.subarray(0, SORTED_SECTION.CRC)), true);
  return buf;
}

export interface SortedSectionHeader {
  tail: number;
  prefixCrc: number;
  runBytes: number;
  runCrc: number;
}

export function decodeSortedSectionHeader(buf: Uint8Array): SortedSectionHeader | undefined {
  if (buf.length < SORTED_SECTION_HEADER_SIZE) return undefined;
  for (let i = 0; i < SORTED_SECTION_MAGIC.length; i++) if (buf[SORTED_SECTION.MAGIC + i] !== SORTED_SECTION_MAGIC[i]) return undefined;
  const dv = new DataView(buf.buffer, buf.byteOffset, SORTED_SECTION_HEADER_SIZE);
  if (dv.getUint32(SORTED_SECTION.VERSION, true) !== SORTED_SECTION_VERSION) return undefined;
  if (dv.getUint32(SORTED_SECTION.HEADER_SIZE, true) !== SORTED_SECTION_HEADER_SIZE) return undefined;
  if (dv.getUint32(SORTED_SECTION.CRC, true) !== crc32(buf.subarray(0, SORTED_SECTION.CRC))) return undefined;
  return { tail: readU64(dv, SORTED_SECTION.TAIL), prefixCrc: dv.getUint32(SORTED_SECTION.PREFIX_CRC, true), runBytes: readU64(dv, SORTED_SECTION.RUN_BYTES), runCrc: dv.getUint32(SORTED_SECTION.RUN_CRC, true) };
}

/**
 * A run read from disk is used only if it is well formed: offsets inside the
 * buffer and after the offset table, entries inside the buffer, keys strictly
 * increasing (namespace, bytes), no removals, every LSN below `tail`. One pass.
 */
export function validRun(run: Uint8Array, tail: number): boolean {
  if (run.length < SORTED_RUN_HEADER_BYTES) return false;
  const dv = new DataView(run.buffer, run.byteOffset, run.byteLength);
  const n = dv.getUint32(SortedRunHeader.COUNT * 4, true);
  const dataStart = SORTED_RUN_HEADER_BYTES + n * 4;
  if (dataStart > run.length) return false;
  let prev = -1;
  for (let i = 0; i < n; i++) {
    const off = dv.getUint32(SORTED_RUN_HEADER_BYTES + i * 4, true);
    if (off < dataStart || off % 4 !== 0 || off + SORTED_ENTRY_HEADER_BYTES > run.length) return false;
    const len = dv.getUint32(off + SortedEntry.KEY_LEN, true);
    if (off + sortedEntryBytes(len) > run.length) return false;
    const hi = dv.getUint32(off + SortedEntry.LSN_HI, true);
    if (hi === SORTED_TOMBSTONE_HI || dv.getUint32(off + SortedEntry.LSN_LO, true) + hi * 0x1_0000_0000 >= tail) return false;
    if (prev >= 0 && compareAt(run, dv, prev, off) >= 0) return false;
    prev = off;
  }
  return true;
}

function compareAt(u8: Uint8Array, dv: DataView, a: number, b: number): number {
  const an = dv.getUint32(a, true);
  const bn = dv.getUint32(b, true);
  if (an !== bn) return an < bn ? -1 : 1;
  const al = dv.getUint32(a + SortedEntry.KEY_LEN, true);
  const bl = dv.getUint32(b + SortedEntry.KEY_LEN, true);
  const n = Math.min(al, bl);
  for (let k = 0; k < n; k++) {
    const x = u8[a + SORTED_ENTRY_HEADER_BYTES + k]!;
    const y = u8[b + SORTED_ENTRY_HEADER_BYTES + k]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return al - bl;
}
