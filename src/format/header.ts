import { crc32 } from '@node-rs/crc32';
import { EmdbError, ErrorCode } from '../errors.js';
import {
  DATA_START,
  ENCODING_ID,
  FILE_ID_SIZE,
  FILE_MAGIC,
  FORMAT_VERSION,
  PRELUDE,
  PRELUDE_CRC_END,
  PRELUDE_FLAG_ENCRYPTED,
  PRELUDE_SIZE,
  PREFIX_CRC_SINCE_VERSION,
  READABLE_FORMAT_VERSIONS,
  SLOT,
  SLOT_A_OFFSET,
  SLOT_B_OFFSET,
  SLOT_FLAG_PREFIX_CRC,
  SLOT_MAGIC,
  SLOT_SIZE,
  V3,
  PAGE_SIZE,
} from './constants.js';
import { readU64, writeU64 } from './u64.js';

export interface Prelude {
  version: number;
  flags: number;
  createdAt: number;
  fileId: Uint8Array;
  /** Value encoding code recorded at creation (ENCODING_ID); 0 when not recorded (versions 1 and 2). */
  valueEncoding: number;
  /** Raw prelude bytes [0, PRELUDE_SIZE), kept for the encryption layer's fields. */
  bytes: Uint8Array;
}

export interface HeaderSlot {
  sequence: number;
  tailHint: number;
  checkpointAt: number;
  liveKeys: number;
  /**
   * CRC32 of the log bytes [DATA_START, tailHint), so open can verify the whole
   * checkpointed prefix in one streaming pass. Undefined in version 1 files.
   */
  prefixCrc: number | undefined;
  /** Version 3, encrypted files: the key generation builds before random nonces derived nonces from; written 0 now (FORMAT.md, "Nonces"). */
  keyGeneration?: number;
}

/**
 * The complete header region [0, DATA_START) of a new, unencrypted file;
 * `valueEncoding` is the ENCODING_ID code recorded for the database (0: none).
 */
export function encodeNewHeader(now: number, fileId: Uint8Array, valueEncoding = 0): Uint8Array {
  const buf = new Uint8Array(DATA_START);
  const dv = new DataView(buf.buffer);
  buf.set(FILE_MAGIC, PRELUDE.MAGIC);
  dv.setUint32(PRELUDE.VERSION, FORMAT_VERSION, true);
  dv.setUint32(PRELUDE.FLAGS, 0, true);
  dv.setUint32(PRELUDE.DATA_START, DATA_START, true);
  writeU64(dv, PRELUDE.CREATED_AT, now);
  buf.set(fileId.subarray(0, FILE_ID_SIZE), PRELUDE.FILE_ID);
  dv.setUint8(PRELUDE.VALUE_ENCODING, valueEncoding);
  sealPrelude(buf);
  // The CRC32 of an empty prefix is 0.
  buf.set(encodeSlot({ sequence: 0, tailHint: DATA_START, checkpointAt: now, liveKeys: 0, prefixCrc: 0 }), SLOT_A_OFFSET);
  return buf;
}

/**
 * The header region of a new log generation made from an existing one (a
 * compacted log, a backup): the same prelude (creation time, encryption
 * parameters) with the current format version and a new file id, so caches
 * keyed by the file id (the index snapshot) never match the other file; slot A
 * holds `slot`, slot B is empty.
 */
export function encodeSuccessorHeader(prelude: Uint8Array, fileId: Uint8Array, slot: HeaderSlot): Uint8Array {
  const buf = new Uint8Array(DATA_START);
  buf.set(prelude.subarray(0, PRELUDE_SIZE));
  const dv = new DataView(buf.buffer);
  dv.setUint32(PRELUDE.VERSION, FORMAT_VERSION, true);
  buf.set(fileId.subarray(0, FILE_ID_SIZE), PRELUDE.FILE_ID);
  sealPrelude(buf);
  buf.set(encodeSlot(slot), SLOT_A_OFFSET);
  return buf;
}

/** Recomputes the prelude CRC after a field changed. */
export function sealPrelude(prelude: Uint8Array): void {
  const dv = new DataView(prelude.buffer, prelude.byteOffset, prelude.byteLength);
  dv.setUint32(PRELUDE.CRC, crc32(prelude.subarray(0, PRELUDE_CRC_END)), true);
}

export function hasFileMagic(bytes: Uint8Array): boolean {
  if (bytes.length < FILE_MAGIC.length) return false;
  for (let i = 0; i < FILE_MAGIC.length; i++) if (bytes[i] !== FILE_MAGIC[i]) return false;
  return true;
}

/**
 * Refuses a header area that was read short (`got` < DATA_START bytes: the
 * file ends inside it). A new database, a compacted log and a backup are each
 * written whole to a temp file, synced and renamed into place (FORMAT.md), so
 * no crash leaves a file of ours this short: one that starts with our magic
 * is a damaged database (ERR_EMDB_CORRUPTION at the offset where it ends),
 * not a foreign file. Anything else this short is not a database.
 */
export function assertWholeHeader(header: Uint8Array, got: number, file: string): void {
  if (got >= DATA_START) return;
  if (got >= FILE_MAGIC.length && hasFileMagic(header)) {
    throw new EmdbError(
      ErrorCode.CORRUPTION,
      `${file} is an emdb-js database cut short: it ends at byte ${got}, inside its ${DATA_START}-byte header area (truncated or damaged; nothing creates a file this short)`,
      { offset: got },
    );
  }
  throw new EmdbError(ErrorCode.NOT_A_DATABASE, `${file} is too short (${got} bytes) to be an emdb-js database`);
}

/**
 * Validates page 0. The magic is checked first so that a foreign file is reported
 * as NOT_A_DATABASE (and left alone) rather than as corruption of ours.
 */
export function decodePrelude(header: Uint8Array): Prelude {
  if (header.length < DATA_START || !hasFileMagic(header)) {
    throw new EmdbError(ErrorCode.NOT_A_DATABASE, 'file is not an emdb-js database (bad magic)');
  }
  const dv = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const version = dv.getUint32(PRELUDE.VERSION, true);
  if (!READABLE_FORMAT_VERSIONS.includes(version)) {
    throw new EmdbError(
      ErrorCode.UNSUPPORTED_VERSION,
      `database format version ${version} is not supported (this build reads versions ${READABLE_FORMAT_VERSIONS.join(', ')})`,
    );
  }
  const stored = dv.getUint32(PRELUDE.CRC, true);
  if (stored !== crc32(header.subarray(0, PRELUDE_CRC_END))) {
    throw new EmdbError(ErrorCode.CORRUPTION, 'database header (prelude) fails its checksum', { offset: 0 });
  }
  if (dv.getUint32(PRELUDE.DATA_START, true) !== DATA_START) {
    throw new EmdbError(ErrorCode.CORRUPTION, 'database header has an unexpected data start', { offset: 0 });
  }
  return {
    version,
    flags: dv.getUint32(PRELUDE.FLAGS, true),
    createdAt: readU64(dv, PRELUDE.CREATED_AT),
    fileId: header.slice(PRELUDE.FILE_ID, PRELUDE.FILE_ID + FILE_ID_SIZE),
    // Reserved (zero) before version 3; read only where it is defined.
    valueEncoding: version >= V3 ? dv.getUint8(PRELUDE.VALUE_ENCODING) : 0,
    bytes: header.slice(0, PRELUDE.CRC + 4),
  };
}

/**
 * For `dump --salvage` only: page 0 read as far as it can be when its CRC
 * fails (one damaged byte there must not hide records that are all intact).
 * The magic must still be there (else: not a database). An intact prelude is
 * decoded as open decodes it (an unknown version is still refused); a damaged
 * one is read field by field, none of them proven: an unknown version reads as
 * the current one, and `damage` says why it was read this way.
 */
export function decodePreludeLeniently(header: Uint8Array): { prelude: Prelude; damage: string | undefined } {
  if (header.length < DATA_START || !hasFileMagic(header)) return { prelude: decodePrelude(header), damage: undefined };
  const dv = new DataView(header.buffer, header.byteOffset, header.byteLength);
  if (dv.getUint32(PRELUDE.CRC, true) === crc32(header.subarray(0, PRELUDE_CRC_END))) return { prelude: decodePrelude(header), damage: undefined };
  const stored = dv.getUint32(PRELUDE.VERSION, true);
  const version = READABLE_FORMAT_VERSIONS.includes(stored) ? stored : FORMAT_VERSION;
  return {
    prelude: {
      version,
      flags: dv.getUint32(PRELUDE.FLAGS, true),
      createdAt: readU64(dv, PRELUDE.CREATED_AT),
      fileId: header.slice(PRELUDE.FILE_ID, PRELUDE.FILE_ID + FILE_ID_SIZE),
      // Read whatever the version: versions 1 and 2 leave the byte 0 ("not recorded").
      valueEncoding: dv.getUint8(PRELUDE.VALUE_ENCODING),
      bytes: header.slice(0, PRELUDE.CRC + 4),
    },
    damage: `database header (prelude) fails its checksum${stored === version ? '' : ` (its format version reads ${stored}; read as ${version})`}`,
  };
}

/** The name of a recorded value-encoding code (ENCODING_ID); undefined for 0 (none recorded, versions 1 and 2) or an unknown code. */
export function encodingNameOf(code: number): keyof typeof ENCODING_ID | undefined {
  return (Object.keys(ENCODING_ID) as (keyof typeof ENCODING_ID)[]).find((name) => ENCODING_ID[name] === code);
}

export function isEncrypted(prelude: Prelude): boolean {
  return (prelude.flags & PRELUDE_FLAG_ENCRYPTED) !== 0;
}

export function encodeSlot(slot: HeaderSlot): Uint8Array {
  const buf = new Uint8Array(SLOT_SIZE);
  const dv = new DataView(buf.buffer);
  dv.setUint32(SLOT.MAGIC, SLOT_MAGIC, true);
  writeU64(dv, SLOT.SEQUENCE, slot.sequence);
  writeU64(dv, SLOT.TAIL_HINT, slot.tailHint);
  writeU64(dv, SLOT.CHECKPOINT_AT, slot.checkpointAt);
  writeU64(dv, SLOT.LIVE_KEYS, slot.liveKeys);
  if (slot.prefixCrc !== undefined) {
    dv.setUint32(SLOT.FLAGS, SLOT_FLAG_PREFIX_CRC, true);
    dv.setUint32(SLOT.PREFIX_CRC, slot.prefixCrc >>> 0, true);
  }
  dv.setUint32(SLOT.KEY_GENERATION, slot.keyGeneration ?? 0, true);
  dv.setUint32(SLOT.CRC, crc32(buf.subarray(0, SLOT.CRC)), true);
  return buf;
}

/**
 * undefined when the slot is empty or torn (fails magic or CRC). Bytes 40..59
 * are reserved in version 1 and are not read there.
 */
export function decodeSlot(bytes: Uint8Array, version: number): HeaderSlot | undefined {
  if (bytes.length < SLOT_SIZE) return undefined;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, SLOT_SIZE);
  if (dv.getUint32(SLOT.MAGIC, true) !== SLOT_MAGIC) return undefined;
  if (dv.getUint32(SLOT.CRC, true) !== crc32(bytes.subarray(0, SLOT.CRC))) return undefined;
  const slot = {
    sequence: readU64(dv, SLOT.SEQUENCE),
    tailHint: readU64(dv, SLOT.TAIL_HINT),
    checkpointAt: readU64(dv, SLOT.CHECKPOINT_AT),
    liveKeys: readU64(dv, SLOT.LIVE_KEYS),
    prefixCrc:
      version >= PREFIX_CRC_SINCE_VERSION && (dv.getUint32(SLOT.FLAGS, true) & SLOT_FLAG_PREFIX_CRC) !== 0
        ? dv.getUint32(SLOT.PREFIX_CRC, true)
        : undefined,
    keyGeneration: version >= V3 ? dv.getUint32(SLOT.KEY_GENERATION, true) : 0,
  };
  return slot.tailHint >= DATA_START ? slot : undefined;
}

export interface ChosenSlot extends HeaderSlot {
  /** File offset of the slot that holds it; the next checkpoint writes the other one. */
  offset: number;
}

/**
 * Picks the valid slot with the highest sequence from the header region.
 * `accept` (encrypted files) also checks the slot's page, e.g. its keyed MAC.
 */
export function chooseSlot(header: Uint8Array, version: number, accept?: (page: Uint8Array) => boolean): ChosenSlot {
  const pick = (at: number): HeaderSlot | undefined => {
    const s = decodeSlot(header.subarray(at, at + SLOT_SIZE), version);
    return s && (!accept || accept(header.subarray(at, at + PAGE_SIZE))) ? s : undefined;
  };
  const a = pick(SLOT_A_OFFSET);
  const b = pick(SLOT_B_OFFSET);
  if (a && (!b || a.sequence >= b.sequence)) return { ...a, offset: SLOT_A_OFFSET };
  if (b) return { ...b, offset: SLOT_B_OFFSET };
  throw new EmdbError(ErrorCode.CORRUPTION, 'both header slots fail their checksum', { offset: SLOT_A_OFFSET });
}

export function otherSlotOffset(offset: number): number {
  return offset === SLOT_A_OFFSET ? SLOT_B_OFFSET : SLOT_A_OFFSET;
}

/**
 * What one header slot holds, as open judges it: `empty` (all zeros: a new
 * file's unused slot), `ok`, `bad-checksum` (magic, CRC or fields fail: a torn
 * checkpoint write, or damage) or `bad-mac` (an encrypted file's slot whose
 * keyed MAC fails).
 */
export type SlotStatus = 'ok' | 'empty' | 'bad-checksum' | 'bad-mac';

/**
 * Both slots' status and the one open uses (chooseSlot's pick), for tools
 * that report on a file (verify, dump --salvage). Throws as chooseSlot does
 * when neither slot is valid.
 */
export function inspectSlots(header: Uint8Array, version: number, accept?: (page: Uint8Array) => boolean): { a: SlotStatus; b: SlotStatus; chosen: ChosenSlot } {
  const status = (at: number): SlotStatus => {
    const bytes = header.subarray(at, at + SLOT_SIZE);
    if (decodeSlot(bytes, version) === undefined) return bytes.every((b) => b === 0) ? 'empty' : 'bad-checksum';
    return !accept || accept(header.subarray(at, at + PAGE_SIZE)) ? 'ok' : 'bad-mac';
  };
  return { a: status(SLOT_A_OFFSET), b: status(SLOT_B_OFFSET), chosen: chooseSlot(header, version, accept) };
}
