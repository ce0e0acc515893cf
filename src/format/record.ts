import { crc32 } from '@node-rs/crc32';
import {
  MAX_KEY_BYTES,
  DURABLE_MARK_SIZE,
  DURABLE_MARK_VALUE_SIZE,
  MAX_RECORD_KIND,
  NS_CREATE_VALUE_SIZE,
  MAX_VALUE_BYTES,
  RECORD,
  RECORD_CRC_START,
  RECORD_HEADER_SIZE,
  RECORD_KNOWN_FLAGS,
  RECORD_MAGIC,
  RecordKind,
  type RecordKindValue,
} from './constants.js';
import { keyOffsetIn, RecordFault, storedPayloadSize } from './record-fields.js';

export { faultName, RecordFault } from './record-fields.js';
import { readU64, writeU64 } from './u64.js';


// Field reads that need no checksum live in record-fields.ts (loaded by reader threads without crc32).
export { keyOffsetIn, storedPayloadSize } from './record-fields.js';

/**
 * Checks the record at `off` in `bytes[0, end)` without trusting any field
 * before the checksum has passed. Returns its total length, or a RecordFault.
 * `verifyCrc` false skips only the record's own CRC, for bytes a prefix CRC
 * has already verified; the structural checks still run.
 */
export function checkRecord(bytes: Uint8Array, dv: DataView, off: number, end: number, verifyCrc = true, maxKind: number = MAX_RECORD_KIND): number {
  const header = headerFault(dv, off, end, maxKind);
  if (header < 0) return header;
  const flags = dv.getUint8(off + RECORD.FLAGS);
  const total = RECORD_HEADER_SIZE + storedPayloadSize(flags, dv.getUint32(off + RECORD.KEY_LEN, true), dv.getUint32(off + RECORD.VALUE_LEN, true));
  if (end - off < total) return RecordFault.TRUNCATED;
  if (!verifyCrc) return total;
  const stored = dv.getUint32(off + RECORD.CRC, true);
  if (stored !== crc32(bytes.subarray(off + RECORD_CRC_START, off + total))) return RecordFault.BAD_CRC;
  return total;
}

/** 0 when the 32-byte header at `off` reads as a record's (magic, kind, flags, reserved bits, lengths), else the RecordFault. */
function headerFault(dv: DataView, off: number, end: number, maxKind: number): number {
  if (end - off < RECORD_HEADER_SIZE) return RecordFault.TRUNCATED;
  if (dv.getUint32(off + RECORD.MAGIC, true) !== RECORD_MAGIC) return RecordFault.BAD_MAGIC;
  const kind = dv.getUint8(off + RECORD.KIND);
  if (
    kind === 0 ||
    kind > maxKind ||
    (dv.getUint8(off + RECORD.FLAGS) & ~RECORD_KNOWN_FLAGS) !== 0 ||
    dv.getUint16(off + RECORD.RESERVED, true) !== 0 ||
    dv.getUint32(off + RECORD.KEY_LEN, true) > MAX_KEY_BYTES ||
    dv.getUint32(off + RECORD.VALUE_LEN, true) > MAX_VALUE_BYTES
  ) {
    return RecordFault.BAD_FIELDS;
  }
  return 0;
}

/**
 * What the header of a damaged record still claims, when its magic and
 * fields read as plausible (the CRC failed, so none of it is proof); undefined
 * when even the header does not parse. For reports only (dump --salvage says
 * what a skipped record looked like), never to apply anything.
 */
export function claimedRecordHeader(dv: DataView, off: number, end: number, maxKind: number = MAX_RECORD_KIND): RecordView | undefined {
  return headerFault(dv, off, end, maxKind) === 0 ? readRecordHeader(dv, off) : undefined;
}

export interface RecordView {
  kind: number;
  flags: number;
  namespace: number;
  keyLen: number;
  valueLen: number;
  expiresAt: number;
}

export function readRecordHeader(dv: DataView, off: number): RecordView {
  return {
    kind: dv.getUint8(off + RECORD.KIND),
    flags: dv.getUint8(off + RECORD.FLAGS),
    namespace: dv.getUint32(off + RECORD.NAMESPACE, true),
    keyLen: dv.getUint32(off + RECORD.KEY_LEN, true),
    valueLen: dv.getUint32(off + RECORD.VALUE_LEN, true),
    expiresAt: readU64(dv, off + RECORD.EXPIRES_AT),
  };
}

/**
 * Writes the header of a plaintext record whose key and value bytes are already
 * in place at `off + RECORD_HEADER_SIZE`, then seals it with its CRC. Callers
 * write payloads first so that strings can be UTF-8 encoded straight into the
 * batch buffer with no intermediate copy.
 */
export function sealRecord(
  bytes: Uint8Array,
  dv: DataView,
  off: number,
  kind: RecordKindValue,
  flags: number,
  namespace: number,
  keyLen: number,
  valueLen: number,
  expiresAt: number,
): number {
  dv.setUint32(off + RECORD.MAGIC, RECORD_MAGIC, true);
  dv.setUint8(off + RECORD.KIND, kind);
  dv.setUint8(off + RECORD.FLAGS, flags);
  dv.setUint16(off + RECORD.RESERVED, 0, true);
  dv.setUint32(off + RECORD.NAMESPACE, namespace, true);
  dv.setUint32(off + RECORD.KEY_LEN, keyLen, true);
  dv.setUint32(off + RECORD.VALUE_LEN, valueLen, true);
  writeU64(dv, off + RECORD.EXPIRES_AT, expiresAt);
  const total = RECORD_HEADER_SIZE + storedPayloadSize(flags, keyLen, valueLen);
  dv.setUint32(off + RECORD.CRC, crc32(bytes.subarray(off + RECORD_CRC_START, off + total)), true);
  return total;
}

/** Total size of the framed record at `off` (header + stored payload); fields unchecked. */
export function frameSize(dv: DataView, off: number): number {
  return RECORD_HEADER_SIZE + storedPayloadSize(dv.getUint8(off + RECORD.FLAGS), dv.getUint32(off + RECORD.KEY_LEN, true), dv.getUint32(off + RECORD.VALUE_LEN, true));
}

/**
 * A sealed namespace catalogue record (NS_CREATE or NS_DROP) whose key is the
 * namespace name. `encoding` (format 3 NS_CREATE only) is the namespace's value
 * encoding code; undefined writes the version 1/2 form with an empty value.
 */
export function catalogueRecord(
  kind: typeof RecordKind.NS_CREATE | typeof RecordKind.NS_DROP,
  id: number,
  name: string,
  encoding?: number,
): Uint8Array {
  const keyLen = Buffer.byteLength(name, 'utf8');
  const valueLen = kind === RecordKind.NS_CREATE && encoding !== undefined ? NS_CREATE_VALUE_SIZE : 0;
  const rec = new Uint8Array(RECORD_HEADER_SIZE + keyLen + valueLen);
  Buffer.from(rec.buffer).write(name, RECORD_HEADER_SIZE, 'utf8');
  // Bytes 1..3 of the NS_CREATE value are reserved zeros (the array starts zeroed).
  if (valueLen > 0) rec[RECORD_HEADER_SIZE + keyLen] = encoding!;
  sealRecord(rec, new DataView(rec.buffer), 0, kind, 0, id, keyLen, valueLen, 0);
  return rec;
}

/** The value encoding code an NS_CREATE record at `off` carries; 0 (not recorded) in the version 1/2 form. */
export function nsCreateEncoding(dv: DataView, off: number): number {
  const keyLen = dv.getUint32(off + RECORD.KEY_LEN, true);
  const valueLen = dv.getUint32(off + RECORD.VALUE_LEN, true);
  return valueLen >= NS_CREATE_VALUE_SIZE ? dv.getUint8(off + keyOffsetIn(dv.getUint8(off + RECORD.FLAGS)) + keyLen) : 0;
}

/**
 * A sealed DURABLE_MARK (format 3): every log byte before `durableLsn` was
 * fdatasync'ed when the batch that follows it was written (FORMAT.md, "Durable marks").
 */
export function durableMarkRecord(durableLsn: number): Uint8Array {
  const rec = new Uint8Array(DURABLE_MARK_SIZE);
  const dv = new DataView(rec.buffer);
  writeU64(dv, RECORD_HEADER_SIZE, durableLsn);
  sealRecord(rec, dv, 0, RecordKind.DURABLE_MARK, 0, 0, 0, DURABLE_MARK_VALUE_SIZE, 0);
  return rec;
}

/** The durable LSN of a checked DURABLE_MARK at `off`, or -1 when the record is not a well-formed one. */
export function readDurableMark(dv: DataView, off: number): number {
  if (
    dv.getUint8(off + RECORD.KIND) !== RecordKind.DURABLE_MARK ||
    dv.getUint32(off + RECORD.KEY_LEN, true) !== 0 ||
    dv.getUint32(off + RECORD.VALUE_LEN, true) !== DURABLE_MARK_VALUE_SIZE
  ) {
    return -1;
  }
  return readU64(dv, off + RECORD_HEADER_SIZE);
}

/** A sealed PREFIX_DELETE (format 3): removes every key of namespace `ns` that starts with `prefix`. */
export function prefixDeleteRecord(ns: number, prefix: Uint8Array, flags = 0): Uint8Array {
  const rec = new Uint8Array(RECORD_HEADER_SIZE + prefix.length);
  rec.set(prefix, RECORD_HEADER_SIZE);
  sealRecord(rec, new DataView(rec.buffer), 0, RecordKind.PREFIX_DELETE, flags, ns, prefix.length, 0, 0);
  return rec;
}

/** The namespace and prefix of a checked plaintext PREFIX_DELETE at `off` (the prefix is a view, not a copy). */
export function readPrefixDelete(u8: Uint8Array, dv: DataView, off: number): { namespace: number; prefix: Uint8Array } {
  const keyLen = dv.getUint32(off + RECORD.KEY_LEN, true);
  return {
    namespace: dv.getUint32(off + RECORD.NAMESPACE, true),
    prefix: u8.subarray(off + keyOffsetIn(dv.getUint8(off + RECORD.FLAGS)), off + keyOffsetIn(dv.getUint8(off + RECORD.FLAGS)) + keyLen),
  };
}
