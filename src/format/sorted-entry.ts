import { fieldOffsets } from './field-offsets.js';

/**
 * Byte layout of a sorted-index run and of its entries (docs/FORMAT.md, "Sorted
 * index"): the same bytes live in shared memory (src/shm/sorted-*.ts, rules in
 * src/shm/layout.ts) and in the index snapshot's sorted section
 * (format/sorted-snapshot.ts), so both read them through these offsets.
 */
const runHeader = fieldOffsets({
  COUNT: 1,
  /** Unique per run among the writer's buffers (how a reader tells which of its buffers are retired). */
  ID: 1,
  RESERVED: 2,
});
/** Int32 words of a run's header; the u32 entry offsets follow it, then the entries. */
export const SortedRunHeader = runHeader.offsets;
export const SORTED_RUN_HEADER_BYTES = runHeader.end * Int32Array.BYTES_PER_ELEMENT;
/** Entry: ns u32, keyLen u32, lsnLo u32, lsnHi u32, key bytes padded to 4. */
const entry = fieldOffsets({ NS: 4, KEY_LEN: 4, LSN_LO: 4, LSN_HI: 4 });
export const SortedEntry = entry.offsets;
export const SORTED_ENTRY_HEADER_BYTES = entry.end;
/** lsnHi of a removal (a live LSN is < 2^53, so its high word is < 2^21). */
export const SORTED_TOMBSTONE_HI = 0xffff_ffff;

export function sortedEntryBytes(keyLen: number): number {
  return SORTED_ENTRY_HEADER_BYTES + ((keyLen + 3) & ~3);
}
