/**
 * The deadline section of the index snapshot (docs/FORMAT.md, "Index
 * snapshot"): the writer's deadline heap (log/deadlines.ts), saved at the END
 * of the snapshot body so a reopen has the upcoming expiries without walking
 * the log. Covered by the body CRC like the rest of the body; its presence is
 * bit 1 of the snapshot's section bitmap (SnapshotSection.EXPIRY).
 *
 *   count × ( deadline u64 | lsn u64 )   epoch ms, record LSN; heap order
 *   count u64
 *   magic u32 = DEADLINE_SECTION_MAGIC ("DLN1")
 *   reserved u32 = 0
 * Little-endian. The fixed 16-byte footer is read first, from the end.
 */
import { readU64, writeU64 } from './u64.js';

export const DEADLINE_SECTION_MAGIC = 0x314e4c44;
export const DEADLINE_FOOTER_SIZE = 16;
export const DEADLINE_ENTRY_SIZE = 16;

export function encodeDeadlineSection(deadlines: Float64Array, lsns: Float64Array): Uint8Array {
  const n = deadlines.length;
  const buf = new Uint8Array(n * DEADLINE_ENTRY_SIZE + DEADLINE_FOOTER_SIZE);
  const dv = new DataView(buf.buffer);
  for (let i = 0; i < n; i++) {
    writeU64(dv, i * DEADLINE_ENTRY_SIZE, deadlines[i]!);
    writeU64(dv, i * DEADLINE_ENTRY_SIZE + 8, lsns[i]!);
  }
  const f = n * DEADLINE_ENTRY_SIZE;
  writeU64(dv, f, n);
  dv.setUint32(f + 8, DEADLINE_SECTION_MAGIC, true);
  dv.setUint32(f + 12, 0, true);
  return buf;
}

/**
 * Reads the section at the end of `body`. Returns the entries and how many
 * bytes the section took, or undefined when the footer is missing or does not
 * fit (the snapshot is then not used).
 */
export function decodeDeadlineSection(body: Uint8Array): { deadlines: Float64Array; lsns: Float64Array; size: number } | undefined {
  if (body.length < DEADLINE_FOOTER_SIZE) return undefined;
  const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const f = body.length - DEADLINE_FOOTER_SIZE;
  if (dv.getUint32(f + 8, true) !== DEADLINE_SECTION_MAGIC || dv.getUint32(f + 12, true) !== 0) return undefined;
  const n = readU64(dv, f);
  const size = n * DEADLINE_ENTRY_SIZE + DEADLINE_FOOTER_SIZE;
  if (size > body.length) return undefined;
  const start = body.length - size;
  const deadlines = new Float64Array(n);
  const lsns = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    deadlines[i] = readU64(dv, start + i * DEADLINE_ENTRY_SIZE);
    lsns[i] = readU64(dv, start + i * DEADLINE_ENTRY_SIZE + 8);
  }
  return { deadlines, lsns, size };
}
