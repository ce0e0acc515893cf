/**
 * The page CRC section of the index snapshot (docs/FORMAT.md, "Index
 * snapshot"), bit 2 of the section bitmap (SnapshotSection.PAGE_CRCS). It ends
 * the snapshot body, after the deadline section, and is covered by the body CRC.
 *
 *   count × crc u32     entry k = CRC32 of the log bytes [DATA_START, max(DATA_START, k × page))
 *   count u32           = floor(tail / page) + 1
 *   page shift u32      log2 of the page size (16)
 *   magic u32 = PAGE_CRC_SECTION_MAGIC ("PGC1")
 * Little-endian; the fixed 12-byte footer is read first, from the end.
 *
 * Why prefix CRCs and not a CRC per page: the writer already hashes the log as
 * one stream for the header slot's prefix CRC; recording that running value at
 * each page boundary costs nothing more, and page k is checked by
 * crc32(page bytes, entry k) === entry k + 1 (or the snapshot's prefix CRC for
 * the last, partial page).
 */
export const PAGE_CRC_SECTION_MAGIC = 0x31434750;
export const PAGE_CRC_FOOTER_SIZE = 12;

export interface PageCrcs {
  pageShift: number;
  /** Entry k: CRC of [DATA_START, max(DATA_START, k << pageShift)). */
  crcs: Uint32Array;
}

export function encodePageCrcSection(table: PageCrcs): Uint8Array {
  const n = table.crcs.length;
  const buf = new Uint8Array(n * 4 + PAGE_CRC_FOOTER_SIZE);
  const dv = new DataView(buf.buffer);
  for (let i = 0; i < n; i++) dv.setUint32(i * 4, table.crcs[i]! >>> 0, true);
  dv.setUint32(n * 4, n, true);
  dv.setUint32(n * 4 + 4, table.pageShift, true);
  dv.setUint32(n * 4 + 8, PAGE_CRC_SECTION_MAGIC, true);
  return buf;
}

/** The section at the end of `body` and its size, or undefined when its footer is missing or does not fit. */
export function decodePageCrcSection(body: Uint8Array): (PageCrcs & { size: number }) | undefined {
  if (body.length < PAGE_CRC_FOOTER_SIZE) return undefined;
  const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const f = body.length - PAGE_CRC_FOOTER_SIZE;
  if (dv.getUint32(f + 8, true) !== PAGE_CRC_SECTION_MAGIC) return undefined;
  const n = dv.getUint32(f, true);
  const pageShift = dv.getUint32(f + 4, true);
  const size = n * 4 + PAGE_CRC_FOOTER_SIZE;
  if (n < 1 || pageShift < 12 || pageShift > 30 || size > body.length) return undefined;
  const start = body.length - size;
  const crcs = new Uint32Array(n);
  for (let i = 0; i < n; i++) crcs[i] = dv.getUint32(start + i * 4, true);
  return { pageShift, crcs, size };
}
