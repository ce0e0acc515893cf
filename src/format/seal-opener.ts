/**
 * The SEAL opener of a sealed unit (record scheme 2, docs/FORMAT.md "Sealed
 * units"): its two value layouts and the fields readers take from it. The
 * value length tells them apart: SEAL_VALUE_SIZE, the unit's nonce stored in
 * it (every unit written now); SEAL_DERIVED_VALUE_SIZE, the key generation
 * the nonce was derived from with the LSN (units written before, read only).
 * Any other length is not an opener. The length is a header field, inside
 * the associated data, so a unit cannot be relabelled as the other layout.
 */
import {
  RECORD,
  RECORD_CRC_START,
  RECORD_FLAG_BATCH_SEALED,
  RECORD_HEADER_SIZE,
  RECORD_MAGIC,
  SEAL,
  SEAL_DERIVED,
  SEAL_DERIVED_VALUE_SIZE,
  SEAL_KIND,
  SEAL_VALUE_SIZE,
} from './constants.js';
import { RecordFault } from './record-fields.js';

/** The fields both layouts share, at the offsets of one of them. */
type OpenerLayout = Readonly<Record<'REGION_BYTES' | 'RECORD_COUNT' | 'REGION_CRC' | 'TAG', number>>;

/** What a reader needs of an opener. */
export interface OpenerFields {
  /** Bytes of the opener record (header and value): its region starts this far from it. */
  size: number;
  /** Region bytes and the records in the region. */
  bytes: number;
  count: number;
  /** CRC32 of the region's file bytes. */
  crc: number;
  /** Offset of the tag in the opener. */
  tagAt: number;
  /**
   * Offset of the region CRC in the opener, where the opener bytes of the
   * associated data end: they are every field from RECORD_CRC_START before
   * it (header fields, nonce or generation, region bytes, record count).
   */
  regionCrcAt: number;
  /** A derived-nonce opener's key generation; undefined when the nonce is stored (at SEAL.NONCE). */
  generation: number | undefined;
}

function layoutOf(valueLen: number): OpenerLayout | undefined {
  if (valueLen === SEAL_VALUE_SIZE) return SEAL;
  return valueLen === SEAL_DERIVED_VALUE_SIZE ? SEAL_DERIVED : undefined;
}

/** Whether the record at `off` is a unit opener (kind only; the caller checked its CRC). */
export function isOpener(dv: DataView, off: number): boolean {
  return dv.getUint8(off + RECORD.KIND) === SEAL_KIND;
}

/** The opener's fields, or a fault when they are not those of an opener of either layout. */
export function readOpener(dv: DataView, off: number): OpenerFields | number {
  const valueLen = dv.getUint32(off + RECORD.VALUE_LEN, true);
  const layout = layoutOf(valueLen);
  if (layout === undefined || dv.getUint8(off + RECORD.FLAGS) !== RECORD_FLAG_BATCH_SEALED) return RecordFault.BAD_FIELDS;
  if (dv.getUint32(off + RECORD.NAMESPACE, true) !== 0 || dv.getUint32(off + RECORD.KEY_LEN, true) !== 0) return RecordFault.BAD_FIELDS;
  const bytes = dv.getUint32(off + layout.REGION_BYTES, true);
  const count = dv.getUint32(off + layout.RECORD_COUNT, true);
  if (count === 0 || count > bytes / RECORD_HEADER_SIZE) return RecordFault.BAD_FIELDS;
  return {
    size: RECORD_HEADER_SIZE + valueLen,
    bytes,
    count,
    crc: dv.getUint32(off + layout.REGION_CRC, true),
    tagAt: layout.TAG,
    regionCrcAt: layout.REGION_CRC,
    generation: layout === SEAL_DERIVED ? dv.getUint32(off + SEAL_DERIVED.GENERATION, true) : undefined,
  };
}

/**
 * Writes the header and fields of an opener at `off`: the stored-nonce layout
 * with `nonce`, or, given a `generation` instead, the derived layout (only to
 * seal a derived-nonce unit again at the same LSN, where the larger opener
 * would not fit: a backup). Tag, region CRC and record CRC come after sealing.
 */
export function writeOpener(dv: DataView, off: number, bytes: number, count: number, nonce: Uint8Array | number): void {
  const derived = typeof nonce === 'number';
  dv.setUint32(off + RECORD.MAGIC, RECORD_MAGIC, true);
  dv.setUint8(off + RECORD.KIND, SEAL_KIND);
  dv.setUint8(off + RECORD.FLAGS, RECORD_FLAG_BATCH_SEALED);
  dv.setUint32(off + RECORD.VALUE_LEN, derived ? SEAL_DERIVED_VALUE_SIZE : SEAL_VALUE_SIZE, true);
  const layout = derived ? SEAL_DERIVED : SEAL;
  if (derived) dv.setUint32(off + SEAL_DERIVED.GENERATION, nonce, true);
  else new Uint8Array(dv.buffer, dv.byteOffset + off + SEAL.NONCE, nonce.length).set(nonce);
  dv.setUint32(off + layout.REGION_BYTES, bytes, true);
  dv.setUint32(off + layout.RECORD_COUNT, count, true);
}

/** Bytes of the unit whose opener is at `off` of `dv`: opener and region (the opener alone when its layout is unknown). */
export function unitSize(dv: DataView, off: number): number {
  const valueLen = dv.getUint32(off + RECORD.VALUE_LEN, true);
  const layout = layoutOf(valueLen);
  return RECORD_HEADER_SIZE + valueLen + (layout ? dv.getUint32(off + layout.REGION_BYTES, true) : 0);
}

/** The opener bytes the associated data covers: [RECORD_CRC_START, the region CRC). */
export function openerAadBytes(opener: Uint8Array, fields: OpenerFields): Uint8Array {
  return opener.subarray(RECORD_CRC_START, fields.regionCrcAt);
}
