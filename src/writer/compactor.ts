import { crc32 } from '@node-rs/crc32';
import { DATA_START, PRELUDE_SIZE, SLOT_A_OFFSET, RECORD, RECORD_FLAG_ENCRYPTED, RECORD_CRC_START, RECORD_FLAG_IN_TX, RecordKind } from '../format/constants.js';
import { encodeSuccessorHeader } from '../format/header.js';
import { catalogueRecord, frameSize } from '../format/record.js';
import { recordExpiresAt, recordFlags } from '../format/record-fields.js';
import { ioError } from '../errors.js';
import type { FileIO } from '../log/file-io.js';
import { logCrc } from '../log/prefix-crc.js';
import { IndexWriter } from '../shm/index-table.js';
import { capacityFor, SEGMENT_SPAN } from '../shm/layout.js';
import { MirrorWriter } from '../shm/mirror.js';
import { BufferedWriter } from './buffered-writer.js';
import { LogState } from '../log/log-state.js';
import type { LogCrypt } from '../log/log-crypt.js';
import { toPlainRecord } from '../crypto/record-crypt.js';

/** Plaintext bytes a scheme 2 compaction seals per call (split into units of UNIT_CAP). */
const COMPACT_BATCH_BYTES = 1 << 20;

export interface CompactedLog {
  state: LogState;
  /** Bytes of the new log (header pages + live records). */
  end: number;
  kept: number;
  /** CRC32 of the new log's bytes [DATA_START, end), also in its slot A. */
  prefixCrc: number;
}

/**
 * The mirror and file forms of a record copied to `lsn` of a new log. Encrypted
 * (`crypt`): every record is sealed again under the new file's subkey at its new
 * LSN (plaintext ones, from a catalogue record or an enableEncryption, are sealed
 * first), into new arrays: sealing writes into its input, which may be a view of
 * a mirror readers still use. Without `crypt`, a sealed record (disableEncryption)
 * becomes its plaintext form; any other is returned as is, both forms one view.
 */
export function placeRecord(bytes: Uint8Array, lsn: number, crypt?: LogCrypt): { mirror: Uint8Array; file: Uint8Array } {
  const sealed = (bytes[RECORD.FLAGS]! & RECORD_FLAG_ENCRYPTED) !== 0;
  if (crypt && sealed) {
    const mirror = bytes.slice();
    const file = new Uint8Array(mirror.length);
    crypt.records.seal(mirror, new DataView(mirror.buffer), 0, lsn, file);
    return { mirror, file };
  }
  if (crypt) return crypt.records.encryptBatch(bytes, lsn);
  if (sealed) {
    const plain = toPlainRecord(bytes);
    return { mirror: plain, file: plain };
  }
  return { mirror: bytes, file: bytes };
}

/**
 * Builds the compacted image of a log in a new mirror: the old prelude (same
 * creation time and encryption parameters) with the current format version and
 * the new generation's `fileId`, a fresh slot A whose tail hint is the new end
 * and whose prefix CRC covers it, then the namespace catalogue and every live,
 * unexpired record. Copied records leave their transaction (the whole image is
 * written and synced before it replaces the log), so the in-transaction flag is
 * cleared and the CRC resealed.
 */
export function buildCompacted(
  old: LogState,
  now: number,
  fileId: Uint8Array,
  sink: (bytes: Uint8Array, position: number) => void,
  crypt?: LogCrypt,
  prelude: Uint8Array = old.mirror.slice(0, PRELUDE_SIZE),
): CompactedLog {
  const mirror = new MirrorWriter(MirrorWriter.create(Math.min(DATA_START + old.liveBytes + (1 << 20), SEGMENT_SPAN)));
  const state = new LogState(IndexWriter.allocate(capacityFor(old.index.live + 1)), mirror);
  let end = DATA_START;
  mirror.reserve(0, DATA_START);
  let fileCrc = 0;
  /** Places records (mirror form) at `end` record by record, so each sits whole in the segment it starts in. */
  const place = (bytes: Uint8Array, file: Uint8Array): void => {
    sink(file, end);
    if (crypt) fileCrc = crc32(file, fileCrc);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let off = 0; off < bytes.length; ) {
      const size = frameSize(dv, off);
      mirror.reserve(end, size);
      mirror.write(end, bytes.subarray(off, off + size));
      state.apply(end);
      end += size;
      off += size;
    }
  };
  // Scheme 2: plaintext records gathered and sealed a batch at a time (units of UNIT_CAP inside it).
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  const flush = (): void => {
    if (pending.length === 0) return;
    const sealed = crypt!.batch!.encryptBatch(Buffer.concat(pending), end);
    pending = [];
    pendingBytes = 0;
    place(sealed.mirror, sealed.file);
  };
  const append = (bytes: Uint8Array): void => {
    if (crypt?.batch) {
      // Either scheme's records (a rotation converts a scheme 1 file), in their plaintext form.
      const plain = (bytes[RECORD.FLAGS]! & RECORD_FLAG_ENCRYPTED) !== 0 ? toPlainRecord(bytes) : bytes;
      pending.push(plain);
      pendingBytes += plain.length;
      if (pendingBytes >= COMPACT_BATCH_BYTES) flush();
      return;
    }
    const placed = placeRecord(bytes, end, crypt);
    place(placed.mirror, placed.file);
  };
  // The compacted log is format 3: NS_CREATE carries the encoding (0 when the old log recorded none).
  for (const [id, name] of old.namespaces) append(catalogueRecord(RecordKind.NS_CREATE, id, name, old.nsEncodings.get(id) ?? 0));
  let kept = 0;
  // A rewrite reads the whole log: every page was loaded before it started (workers/writer.ts).
  old.index.forEachLive((lsn) => {
    const off = old.mirror.residentRecordAt(lsn);
    const dv = old.mirror.recDv;
    const expires = recordExpiresAt(dv, off);
    if (expires !== 0 && expires <= now) return;
    const flags = recordFlags(dv, off);
    const size = frameSize(dv, off);
    const copy = old.mirror.recU8.slice(off, off + size);
    if ((flags & RECORD_FLAG_IN_TX) !== 0) {
      const cdv = new DataView(copy.buffer, 0, size);
      cdv.setUint8(RECORD.FLAGS, flags & ~RECORD_FLAG_IN_TX);
      cdv.setUint32(RECORD.CRC, crc32(copy.subarray(RECORD_CRC_START, size)), true);
    }
    append(copy);
    kept++;
  });
  if (crypt?.batch) flush();
  // Ids of dropped namespaces are never handed out again.
  state.nextNamespaceId = Math.max(state.nextNamespaceId, old.nextNamespaceId);
  const prefixCrc = crypt ? fileCrc : logCrc(mirror, DATA_START, end, 0);
  const slot = { sequence: 1, tailHint: end, checkpointAt: now, liveKeys: state.index.live, prefixCrc };
  const header = encodeSuccessorHeader(prelude, fileId, slot);
  if (crypt) header.set(crypt.slotBytes(slot), SLOT_A_OFFSET);
  mirror.write(0, header);
  sink(header, 0);
  return { state, end, kept, prefixCrc };
}

/**
 * Builds the compacted log into `tmp` (buffered writes, then fdatasync). On a
 * failure the temp file is removed, best effort, and the error is ERR_EMDB_IO:
 * the log was not touched, and an orphan left behind is removed by the next open.
 */
export function writeCompactedFile(io: FileIO, tmp: string, old: LogState, now: number, fileId: Uint8Array, crypt?: LogCrypt, prelude?: Uint8Array, like?: string): CompactedLog {
  let fd = -1;
  try {
    if (io.exists(tmp)) io.unlink(tmp);
    fd = io.open(tmp, 'wx', like);
    const out = new BufferedWriter(io, fd);
    const built = buildCompacted(old, now, fileId, (bytes, position) => out.write(bytes, position), crypt, prelude);
    out.flush();
    io.fdatasync(fd);
    const done = fd;
    fd = -1;
    io.close(done);
    return built;
  } catch (err) {
    try {
      if (fd >= 0) io.close(fd);
      if (io.exists(tmp)) io.unlink(tmp);
    } catch {
      // the compaction error is the one to report
    }
    throw ioError('compaction', err);
  }
}
