/**
 * A sealed unit's associated data and nonce, and the opening of its region
 * (docs/FORMAT.md, "Sealed units"): shared by the writer's BatchCrypt and the
 * page cache's reading threads (shm/sealed-file.ts), which must not load the
 * native crc32 module, so nothing here checksums.
 */
import { AEAD_NONCE_SIZE, AEAD_TAG_SIZE, RECORD_CRC_START, SEAL } from '../format/constants.js';
import { openerAadBytes, type OpenerFields } from '../format/seal-opener.js';
import { writeU64 } from '../format/u64.js';
import type { Aead } from './aead.js';

const MAX_AAD_SIZE = 8 + SEAL.REGION_CRC - RECORD_CRC_START;

export class UnitOpener {
  private readonly aad = new Uint8Array(MAX_AAD_SIZE);
  private readonly aadDv = new DataView(this.aad.buffer);
  /** A derived-nonce unit's nonce (generation ‖ LSN), rebuilt for each one read or resealed. */
  private readonly derivedNonce = new Uint8Array(AEAD_NONCE_SIZE);
  private readonly derivedDv = new DataView(this.derivedNonce.buffer);

  constructor(
    readonly aead: Aead,
    /** The file's records subkey. */
    readonly key: Uint8Array,
  ) {}

  /**
   * Authenticates and decrypts the region of the opener at `lsn` (`opener`
   * its file bytes, `fields` what readOpener read of them, `region` the
   * region's file bytes). Returns the plaintext in a scratch of this opener
   * (valid until its next call), or undefined when it does not authenticate
   * at this position: moved, swapped, forged, or another key's.
   */
  openRegion(opener: Uint8Array, fields: OpenerFields, lsn: number, region: Uint8Array): Uint8Array | undefined {
    if (this.scratch.length < region.length) this.scratch = new Uint8Array(Math.max(region.length, this.scratch.length * 2));
    const out = this.scratch.subarray(0, region.length);
    return this.openRegionInto(opener, fields, lsn, region, out) ? out : undefined;
  }

  /** openRegion into `out` (the region itself for a decryption in place: written only once authenticated); false when it does not authenticate. */
  openRegionInto(opener: Uint8Array, fields: OpenerFields, lsn: number, region: Uint8Array, out: Uint8Array): boolean {
    const tag = opener.subarray(fields.tagAt, fields.tagAt + AEAD_TAG_SIZE);
    return this.aead.open(this.key, this.nonceOf(opener, fields, lsn), this.aadOf(opener, fields, lsn), region, tag, out);
  }

  private scratch = new Uint8Array(0);

  /** The associated data of the unit at `lsn`: `lsn` u64 ‖ the opener bytes it covers (valid until the next call). */
  aadOf(opener: Uint8Array, fields: OpenerFields, lsn: number): Uint8Array {
    const covered = openerAadBytes(opener, fields);
    writeU64(this.aadDv, 0, lsn);
    this.aad.set(covered, 8);
    return this.aad.subarray(0, 8 + covered.length);
  }

  /** The stored nonce of the opener, or a derived-nonce opener's generation u32 ‖ `lsn` u64. */
  nonceOf(opener: Uint8Array, fields: OpenerFields, lsn: number): Uint8Array {
    if (fields.generation === undefined) return opener.subarray(SEAL.NONCE, SEAL.NONCE + AEAD_NONCE_SIZE);
    this.derivedDv.setUint32(0, fields.generation, true);
    writeU64(this.derivedDv, 4, lsn);
    return this.derivedNonce;
  }
}
