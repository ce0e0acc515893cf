/**
 * A plaintext log file and its index for the frame-records tests: record i has
 * key `k<i>` and a value whose bytes encode (i, position); every 40th value is
 * 70,000 bytes (it spans pages), the others 60–360 bytes, so records also
 * cross page ends.
 */
import fs from 'node:fs';
import { DATA_START, RECORD, RecordKind, RECORD_HEADER_SIZE } from '../../dist/src/format/constants.js';
import { sealRecord } from '../../dist/src/format/record.js';
import { hashKey } from '../../dist/src/shm/hash.js';
import { IndexWriter } from '../../dist/src/shm/index-table.js';
import { capacityFor } from '../../dist/src/shm/layout.js';
import { keyOf, valueByte, valueLength } from './frame-values.js';

export { keyOf, valueMismatch } from './frame-values.js';

export interface FrameLog {
  bytes: Uint8Array;
  index: SharedArrayBuffer;
  offsets: number[];
}

export function writeFrameLog(file: string, count: number): FrameLog {
  const parts: Uint8Array[] = [new Uint8Array(DATA_START)];
  const offsets: number[] = [];
  let at = DATA_START;
  for (let i = 0; i < count; i++) {
    const key = keyOf(i);
    const len = valueLength(i);
    const rec = new Uint8Array(RECORD_HEADER_SIZE + key.length + len);
    rec.set(key, RECORD_HEADER_SIZE);
    for (let j = 0; j < len; j++) rec[RECORD_HEADER_SIZE + key.length + j] = valueByte(i, j);
    sealRecord(rec, new DataView(rec.buffer), 0, RecordKind.PUT, 0, 0, key.length, len, 0);
    offsets.push(at);
    parts.push(rec);
    at += rec.length;
  }
  const bytes = Buffer.concat(parts);
  fs.writeFileSync(file, bytes);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // The index is built against the whole file in memory (what the writer had when it appended them).
  const source = {
    keyEquals(lsn: number, ns: number, k: Uint8Array, start: number, len: number): boolean {
      if (dv.getUint32(lsn + RECORD.KEY_LEN, true) !== len || dv.getUint32(lsn + RECORD.NAMESPACE, true) !== ns) return false;
      for (let j = 0; j < len; j++) if (bytes[lsn + RECORD_HEADER_SIZE + j] !== k[start + j]) return false;
      return true;
    },
  };
  const index = IndexWriter.allocate(capacityFor(count));
  for (let i = 0; i < count; i++) {
    const key = keyOf(i);
    index.upsert(source, 0, key, 0, key.length, hashKey(0, key, 0, key.length), offsets[i]!);
  }
  return { bytes, index: index.i32.buffer as SharedArrayBuffer, offsets };
}

