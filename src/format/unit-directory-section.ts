/**
 * The unit directory section of an encrypted database's index snapshot
 * (docs/FORMAT.md, "Index snapshot"), bit 3 of the section bitmap
 * (SnapshotSection.UNIT_DIRECTORY). It ends the snapshot body, after the
 * deadline section, so it is sealed and authenticated with the rest of the body.
 *
 *   count × item u64    entry k = LSN of the top-level item (sealed unit or
 *                       durable mark) holding the first byte of log page k
 *                       (page 0: the first item, DATA_START)
 *   count u32           = ceil(tail / page): the pages that start before the tail
 *   page shift u32      log2 of the page size (16)
 *   magic u32 = UNIT_DIRECTORY_SECTION_MAGIC ("UDR1")
 * Little-endian; the fixed 12-byte footer is read first, from the end.
 *
 * Why: a reopen that has it knows where to start decrypting any page of the
 * log before the snapshot's tail without reading the file (shm/sealed-file.ts,
 * rules U1–U3), so an encrypted log opens lazily like a plaintext one. Page
 * CRCs are not needed for it: every unit is authenticated when it is read,
 * under associated data that binds it to its LSN in this file.
 */
import { readU64, writeU64 } from './u64.js';

export const UNIT_DIRECTORY_SECTION_MAGIC = 0x31524455;
export const UNIT_DIRECTORY_FOOTER_SIZE = 12;
const ENTRY = 8;

export interface UnitDirectoryEntries {
  pageShift: number;
  /** Entry k: LSN of the item that holds the first byte of page k. */
  items: Float64Array;
}

export function encodeUnitDirectorySection(table: UnitDirectoryEntries): Uint8Array {
  const n = table.items.length;
  const buf = new Uint8Array(n * ENTRY + UNIT_DIRECTORY_FOOTER_SIZE);
  const dv = new DataView(buf.buffer);
  for (let i = 0; i < n; i++) writeU64(dv, i * ENTRY, table.items[i]!);
  dv.setUint32(n * ENTRY, n, true);
  dv.setUint32(n * ENTRY + 4, table.pageShift, true);
  dv.setUint32(n * ENTRY + 8, UNIT_DIRECTORY_SECTION_MAGIC, true);
  return buf;
}

/**
 * The section at the end of `body` and its size; undefined when its footer is
 * missing, it does not fit, or its entries are not the ascending item LSNs
 * a directory holds (each at or before its page's first byte).
 */
export function decodeUnitDirectorySection(body: Uint8Array, dataStart: number): (UnitDirectoryEntries & { size: number }) | undefined {
  if (body.length < UNIT_DIRECTORY_FOOTER_SIZE) return undefined;
  const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const f = body.length - UNIT_DIRECTORY_FOOTER_SIZE;
  if (dv.getUint32(f + 8, true) !== UNIT_DIRECTORY_SECTION_MAGIC) return undefined;
  const n = dv.getUint32(f, true);
  const pageShift = dv.getUint32(f + 4, true);
  const size = n * ENTRY + UNIT_DIRECTORY_FOOTER_SIZE;
  if (n < 1 || pageShift < 12 || pageShift > 30 || size > body.length) return undefined;
  const start = body.length - size;
  const items = new Float64Array(n);
  let last = dataStart;
  for (let i = 0; i < n; i++) {
    const item = readU64(dv, start + i * ENTRY);
    if (item < last || (i > 0 && item > i * 2 ** pageShift)) return undefined;
    items[i] = last = item;
  }
  return { pageShift, items, size };
}
