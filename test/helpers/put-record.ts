/** A framed, CRC-sealed plaintext PUT record: key `key`, `valueLen` bytes of `fill` (record-level tests). */
import { RECORD_HEADER_SIZE, RecordKind } from '../../dist/src/format/constants.js';
import { sealRecord } from '../../dist/src/format/record.js';

export function putRecord(key: string, valueLen: number, fill: number): Uint8Array {
  const k = Buffer.from(key);
  const bytes = new Uint8Array(RECORD_HEADER_SIZE + k.length + valueLen);
  bytes.set(k, RECORD_HEADER_SIZE);
  bytes.fill(fill, RECORD_HEADER_SIZE + k.length);
  sealRecord(bytes, new DataView(bytes.buffer), 0, RecordKind.PUT, 0, 0, k.length, valueLen, 0);
  return bytes;
}
