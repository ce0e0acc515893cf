/**
 * The seals of an encrypted log file and the nonce each was sealed under,
 * read from the file's bytes as someone holding copies of it would. The
 * layout is written out from docs/FORMAT.md ("Encryption", "Sealed units"),
 * not imported from src/format, so a drift between the spec and the code
 * fails the tests that use it.
 */
import { createHash } from 'node:crypto';

const DATA_START = 12288;
const RECORD_MAGIC = 0x52444d45;
const HEADER = 32;
const SEAL_KIND = 10;
const FLAG_ENCRYPTED = 1;
/** Prelude: file id and subkey salt, which with the master key make the records key (HKDF). */
const FILE_ID = 120;
const SUBKEY_SALT = 144;
/** SEAL value lengths: nonce(12) ‖ R ‖ n ‖ region CRC ‖ tag(16); and the derived-nonce opener, generation ‖ R ‖ n ‖ CRC ‖ tag(16). */
const STORED_NONCE_VALUE = 40;
const DERIVED_NONCE_VALUE = 32;
/** Scheme 1 records: nonce(12) ‖ AEAD(expiresAt(8) ‖ key ‖ value) ‖ tag(16) after the header. */
const SCHEME1_OVERHEAD = 12 + 8 + 16;

export interface Seal {
  /** LSN (file offset) of the unit's opener or of the scheme 1 record. */
  lsn: number;
  form: 'unit' | 'record';
  /** A unit's SEAL value length: 40 (stored random nonce) or 32 (derived: generation ‖ LSN). */
  valueLen: number;
  /** Identity of the records key among files of one master key: subkey salt ‖ file id, hex. */
  key: string;
  /** The 12-byte nonce, hex. */
  nonce: string;
  /** SHA-256 of what was sealed under it (ciphertext and tag): one seal copied to another file hashes the same. */
  sealed: string;
}

const sha = (...parts: Uint8Array[]): string => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

/** Every unit and scheme 1 record of the log, from DATA_START to the first bytes that are not a record (the end, or preallocated zeros). */
export function seals(file: Uint8Array): Seal[] {
  const b = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  const key = Buffer.concat([b.subarray(SUBKEY_SALT, SUBKEY_SALT + 32), b.subarray(FILE_ID, FILE_ID + 16)]).toString('hex');
  const out: Seal[] = [];
  let at = DATA_START;
  while (at + HEADER <= b.length && b.readUInt32LE(at) === RECORD_MAGIC) {
    const kind = b[at + 8]!;
    const keyLen = b.readUInt32LE(at + 16);
    const valueLen = b.readUInt32LE(at + 20);
    if (kind === SEAL_KIND) {
      let nonce: Buffer;
      let regionBytes: number;
      if (valueLen === STORED_NONCE_VALUE) {
        nonce = b.subarray(at + 32, at + 44);
        regionBytes = b.readUInt32LE(at + 44);
      } else if (valueLen === DERIVED_NONCE_VALUE) {
        nonce = Buffer.alloc(12);
        nonce.writeUInt32LE(b.readUInt32LE(at + 32), 0);
        nonce.writeBigUInt64LE(BigInt(at), 4);
        regionBytes = b.readUInt32LE(at + 36);
      } else {
        throw new Error(`SEAL opener at ${at} has a ${valueLen}-byte value`);
      }
      const end = at + HEADER + valueLen + regionBytes;
      out.push({ lsn: at, form: 'unit', valueLen, key, nonce: nonce.toString('hex'), sealed: sha(b.subarray(at + HEADER + valueLen - 16, end)) });
      at = end;
    } else if ((b[at + 9]! & FLAG_ENCRYPTED) !== 0) {
      const end = at + HEADER + SCHEME1_OVERHEAD + keyLen + valueLen;
      out.push({ lsn: at, form: 'record', valueLen, key, nonce: b.subarray(at + HEADER, at + HEADER + 12).toString('hex'), sealed: sha(b.subarray(at + HEADER + 12, end)) });
      at = end;
    } else {
      at += HEADER + keyLen + valueLen;
    }
  }
  return out;
}

/**
 * Every (key, nonce) pair of `files` under which two different things were
 * sealed: a nonce reuse. The same seal found in several files (the bytes a
 * copy or backup took along) is one use, not a reuse.
 */
export function nonceReuses(files: Uint8Array[]): string[] {
  const seen = new Map<string, string>();
  const reused: string[] = [];
  for (const [i, file] of files.entries()) {
    for (const s of seals(file)) {
      const pair = `${s.key}:${s.nonce}`;
      const before = seen.get(pair);
      if (before === undefined) seen.set(pair, s.sealed);
      else if (before !== s.sealed) reused.push(`file ${i} ${s.form} at ${s.lsn}: nonce ${s.nonce} already sealed other bytes under this key`);
    }
  }
  return reused;
}
