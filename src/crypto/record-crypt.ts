/**
 * Per-record AEAD of an encrypted log (record scheme 1, docs/FORMAT.md, "Encryption").
 *
 * File form of a record at LSN L:
 *   header(32, expiry field 0) ‖ nonce(12) ‖ AEAD(expiresAt u64 ‖ key ‖ value) ‖ tag(16)
 * with associated data = header bytes [8, 32) ‖ L u64, and the record CRC over
 * the file bytes [8, end). Mirror form: the same bytes with the ciphertext
 * replaced by the plaintext, decrypted once when the record enters shared
 * memory, so reads cost what they cost unencrypted.
 *
 * The nonce is stored, and readers use the stored bytes: this build draws it
 * at random for every seal; builds before it wrote generation u32 ‖ L u64,
 * which copies of one file (same key, same history) repeated (FORMAT.md,
 * "Nonces"). The LSN is bound by the associated data either way.
 *
 * DURABLE_MARK records stay plaintext: their value is an LSN, and recovery
 * reads marks in bytes it has not authenticated (the residue scan).
 */
import { crc32 } from '@node-rs/crc32';
import {
  AEAD_EXPIRY_SIZE,
  AEAD_NONCE_SIZE,
  AEAD_OVERHEAD,
  AEAD_TAG_SIZE,
  RECORD,
  RECORD_CRC_START,
  RECORD_FLAG_ENCRYPTED,
  RECORD_HEADER_SIZE,
  RecordKind,
  TX_BEGIN_VALUE_SIZE,
} from '../format/constants.js';
import { frameSize } from '../format/record.js';
import { readU64, writeU64 } from '../format/u64.js';
import { aeadFor, randomNonces, type Aead } from './aead.js';
import type { FileKeys } from './keys.js';

const PAYLOAD_START = RECORD_HEADER_SIZE + AEAD_NONCE_SIZE;
const AAD_SIZE = RECORD_HEADER_SIZE - RECORD_CRC_START + 8;

/** Records every (subkey, nonce) pair sealed and the LSN it sealed, for the nonce-uniqueness tests; off unless a test installs it. */
export type NonceObserver = (key: Uint8Array, nonce: Uint8Array, lsn: number) => void;
export let nonceObserver: NonceObserver | undefined;
export function observeNonces(fn: NonceObserver | undefined): void {
  nonceObserver = fn;
}

export class RecordCrypt {
  readonly aead: Aead;
  private readonly aad = new Uint8Array(AAD_SIZE);
  private readonly aadDv = new DataView(this.aad.buffer);

  constructor(readonly keys: FileKeys) {
    this.aead = aeadFor(keys.cipher);
  }

  /** Size of the encrypted form of the producer-framed (plaintext) batch `plain`. */
  static encryptedSize(plain: Uint8Array): number {
    const dv = new DataView(plain.buffer, plain.byteOffset, plain.byteLength);
    let size = 0;
    for (let off = 0; off < plain.length; ) {
      const len = frameSize(dv, off);
      size += len + (dv.getUint8(off + RECORD.KIND) === RecordKind.DURABLE_MARK ? 0 : AEAD_OVERHEAD);
      off += len;
    }
    return size;
  }

  /**
   * Turns a batch framed by a producer (plaintext records) into its file form
   * and its mirror form, the first record at `lsn`. Runs on the writer thread,
   * the one place where a record's LSN is known.
   */
  encryptBatch(plain: Uint8Array, lsn: number): { file: Uint8Array; mirror: Uint8Array } {
    const size = RecordCrypt.encryptedSize(plain);
    const mirror = new Uint8Array(size);
    const file = new Uint8Array(size);
    const pdv = new DataView(plain.buffer, plain.byteOffset, plain.byteLength);
    const mdv = new DataView(mirror.buffer);
    // One draw for the batch: a nonce for every record but the durable marks (each sealed one grows by AEAD_OVERHEAD).
    const nonces = randomNonces((size - plain.length) / AEAD_OVERHEAD);
    let sealed = 0;
    let out = 0;
    for (let off = 0; off < plain.length; ) {
      const len = frameSize(pdv, off);
      if (pdv.getUint8(off + RECORD.KIND) === RecordKind.DURABLE_MARK) {
        mirror.set(plain.subarray(off, off + len), out);
        file.set(plain.subarray(off, off + len), out);
        out += len;
        off += len;
        continue;
      }
      const keyLen = pdv.getUint32(off + RECORD.KEY_LEN, true);
      const valueLen = pdv.getUint32(off + RECORD.VALUE_LEN, true);
      mirror.set(plain.subarray(off, off + RECORD_HEADER_SIZE), out);
      mdv.setUint8(out + RECORD.FLAGS, pdv.getUint8(off + RECORD.FLAGS) | RECORD_FLAG_ENCRYPTED);
      writeU64(mdv, out + RECORD.EXPIRES_AT, 0);
      writeU64(mdv, out + PAYLOAD_START, readU64(pdv, off + RECORD.EXPIRES_AT));
      mirror.set(plain.subarray(off + RECORD_HEADER_SIZE, off + RECORD_HEADER_SIZE + keyLen + valueLen), out + PAYLOAD_START + AEAD_EXPIRY_SIZE);
      if (pdv.getUint8(off + RECORD.KIND) === RecordKind.TX_BEGIN && valueLen === TX_BEGIN_VALUE_SIZE) {
        // bodyBytes (word 2) counts the body's on-disk bytes: each body record grows by the AEAD overhead.
        const v = out + PAYLOAD_START + AEAD_EXPIRY_SIZE + keyLen;
        mdv.setUint32(v + 8, mdv.getUint32(v + 8, true) + mdv.getUint32(v + 4, true) * AEAD_OVERHEAD, true);
      }
      this.seal(mirror, mdv, out, lsn + out, file, nonces.subarray(sealed * AEAD_NONCE_SIZE, (sealed + 1) * AEAD_NONCE_SIZE));
      sealed++;
      out += len + AEAD_OVERHEAD;
      off += len;
    }
    return { file, mirror };
  }

  /**
   * Seals the mirror-form record at `off` of `mirror` (plaintext payload) for
   * LSN `lsn` under `nonce` (fresh random bytes unless the caller drew them
   * for a batch): writes its file form at the same offset of `file`, and the
   * nonce, tag and CRC into both forms.
   */
  seal(mirror: Uint8Array, mdv: DataView, off: number, lsn: number, file: Uint8Array, nonce: Uint8Array = randomNonces(1)): void {
    const total = frameSize(mdv, off);
    nonceObserver?.(this.keys.records, nonce.slice(), lsn);
    mirror.set(nonce, off + RECORD_HEADER_SIZE);
    this.setAad(mirror, off, lsn);
    file.set(mirror.subarray(off, off + PAYLOAD_START), off);
    const ptEnd = off + total - AEAD_TAG_SIZE;
    const tag = this.aead.seal(this.keys.records, nonce, this.aad, mirror.subarray(off + PAYLOAD_START, ptEnd), file.subarray(off + PAYLOAD_START, ptEnd));
    mirror.set(tag, ptEnd);
    file.set(tag, ptEnd);
    const crc = crc32(file.subarray(off + RECORD_CRC_START, off + total));
    mdv.setUint32(off + RECORD.CRC, crc, true);
    new DataView(file.buffer, file.byteOffset, file.byteLength).setUint32(off + RECORD.CRC, crc, true);
  }

  /**
   * Decrypts the encrypted record at `off` of `u8` (file form, fields and CRC
   * already checked) in place into its mirror form. False when it does not
   * authenticate at LSN `lsn`: wrong position, forged, or another key's.
   */
  openInPlace(u8: Uint8Array, dv: DataView, off: number, lsn: number): boolean {
    const total = frameSize(dv, off);
    // The stored nonce, random or (older builds) generation ‖ LSN: the associated data binds the LSN.
    const nonce = u8.subarray(off + RECORD_HEADER_SIZE, off + PAYLOAD_START);
    this.setAad(u8, off, lsn);
    const ptEnd = off + total - AEAD_TAG_SIZE;
    const ct = u8.subarray(off + PAYLOAD_START, ptEnd);
    return this.aead.open(this.keys.records, nonce, this.aad, ct, u8.subarray(ptEnd, off + total), ct);
  }

  private setAad(u8: Uint8Array, off: number, lsn: number): void {
    this.aad.set(u8.subarray(off + RECORD_CRC_START, off + RECORD_HEADER_SIZE), 0);
    writeU64(this.aadDv, AAD_SIZE - 8, lsn);
  }
}

/** Whether the record at `off` is one an encrypted file must hold sealed (every kind but DURABLE_MARK). */
export function mustBeSealed(dv: DataView, off: number): boolean {
  return dv.getUint8(off + RECORD.KIND) !== RecordKind.DURABLE_MARK;
}

/**
 * The plaintext record (format 3, flag bit 0 clear) of a mirror-form
 * encrypted record: expiry back in the header, key and value after it, a new
 * CRC. Used when encryption is disabled (Emdb.disableEncryption) and when a
 * scheme 1 file is rewritten as scheme 2 (its records go into sealed units as
 * plaintext records).
 */
export function toPlainRecord(form: Uint8Array): Uint8Array {
  const dv = new DataView(form.buffer, form.byteOffset, form.byteLength);
  const keyLen = dv.getUint32(RECORD.KEY_LEN, true);
  const valueLen = dv.getUint32(RECORD.VALUE_LEN, true);
  const out = new Uint8Array(RECORD_HEADER_SIZE + keyLen + valueLen);
  const odv = new DataView(out.buffer);
  out.set(form.subarray(0, RECORD_HEADER_SIZE));
  odv.setUint8(RECORD.FLAGS, dv.getUint8(RECORD.FLAGS) & ~RECORD_FLAG_ENCRYPTED);
  writeU64(odv, RECORD.EXPIRES_AT, readU64(dv, PAYLOAD_START));
  const payload = PAYLOAD_START + AEAD_EXPIRY_SIZE;
  out.set(form.subarray(payload, payload + keyLen + valueLen), RECORD_HEADER_SIZE);
  if (odv.getUint8(RECORD.KIND) === RecordKind.TX_BEGIN && valueLen === TX_BEGIN_VALUE_SIZE) {
    const v = RECORD_HEADER_SIZE + keyLen;
    odv.setUint32(v + 8, odv.getUint32(v + 8, true) - odv.getUint32(v + 4, true) * AEAD_OVERHEAD, true);
  }
  odv.setUint32(RECORD.CRC, crc32(out.subarray(RECORD_CRC_START)), true);
  return out;
}
