/**
 * Field reads of a framed record already in memory (the shared mirror, a batch):
 * for code that walks records it did not validate itself, because the writer
 * did (checkRecord in record.ts) before the record reached the mirror. Offsets
 * are those of RECORD in constants.ts. No checksum code here, so a reader
 * thread loads this without the native crc32 module.
 */
import { AEAD_EXPIRY_SIZE, AEAD_NONCE_SIZE, AEAD_OVERHEAD, RECORD, RECORD_FLAG_ENCRYPTED, RECORD_HEADER_SIZE } from './constants.js';
import { readU64 } from './u64.js';

/** Bytes the payload occupies on disk for given plaintext lengths. */
export function storedPayloadSize(flags: number, keyLen: number, valueLen: number): number {
  const aead = (flags & RECORD_FLAG_ENCRYPTED) !== 0 ? AEAD_OVERHEAD : 0;
  return keyLen + valueLen + aead;
}

/** Offset of the key inside a record (encrypted payloads start with the nonce and the sealed expiry). */
export function keyOffsetIn(flags: number): number {
  return RECORD_HEADER_SIZE + ((flags & RECORD_FLAG_ENCRYPTED) !== 0 ? AEAD_NONCE_SIZE + AEAD_EXPIRY_SIZE : 0);
}

/** Offset of the expiry inside a record: in the header, or (encrypted) the first payload bytes after the nonce. */
export function expiryOffsetIn(flags: number): number {
  return (flags & RECORD_FLAG_ENCRYPTED) !== 0 ? RECORD_HEADER_SIZE + AEAD_NONCE_SIZE : RECORD.EXPIRES_AT;
}

export function recordKind(dv: DataView, off: number): number {
  return dv.getUint8(off + RECORD.KIND);
}

export function recordFlags(dv: DataView, off: number): number {
  return dv.getUint8(off + RECORD.FLAGS);
}

export function recordNamespace(dv: DataView, off: number): number {
  return dv.getUint32(off + RECORD.NAMESPACE, true);
}

export function recordKeyLen(dv: DataView, off: number): number {
  return dv.getUint32(off + RECORD.KEY_LEN, true);
}

export function recordValueLen(dv: DataView, off: number): number {
  return dv.getUint32(off + RECORD.VALUE_LEN, true);
}

/** Expiry in ms since the epoch; 0 = never. */
export function recordExpiresAt(dv: DataView, off: number): number {
  // Mirror records of an encrypted file hold their payload decrypted in place (FORMAT.md, "Encryption").
  return readU64(dv, off + expiryOffsetIn(recordFlags(dv, off)));
}

/** Where the record's key bytes start (after the header, and the nonce of an encrypted payload). */
export function recordKeyStart(dv: DataView, off: number): number {
  return off + keyOffsetIn(recordFlags(dv, off));
}

/** Why a record failed validation; negative so it never collides with a length. */
export const RecordFault = {
  TRUNCATED: -1,
  BAD_MAGIC: -2,
  BAD_FIELDS: -3,
  BAD_CRC: -4,
} as const;

export function faultName(fault: number): string {
  switch (fault) {
    case RecordFault.TRUNCATED:
      return 'truncated record';
    case RecordFault.BAD_MAGIC:
      return 'bad record magic';
    case RecordFault.BAD_FIELDS:
      return 'invalid record header fields';
    default:
      return 'record checksum mismatch';
  }
}
