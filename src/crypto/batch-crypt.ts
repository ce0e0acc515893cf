/**
 * Record scheme 2 (prelude byte 137 = 2): one AEAD per sealed unit of an
 * append batch instead of one per record (docs/FORMAT.md, "Sealed units").
 *
 * A unit at LSN L is a plaintext SEAL opener followed by its sealed region:
 *   opener = header(kind SEAL_KIND, flags BATCH_SEALED, value 32 bytes) ‖
 *            generation u32 ‖ region bytes u32 ‖ record count u32 ‖ region CRC u32 ‖ tag(16)
 *   region = AEAD(the unit's records exactly as producers framed them)
 * nonce = generation u32 ‖ L u64; associated data = L u64 ‖ opener bytes
 * [8, 44) (its header fields, generation, region bytes, record count). The
 * region CRC (CRC32 of the region's file bytes) tells a torn unit from a
 * tampered one, as a record's CRC does. An AEAD does not change lengths, so
 * the mirror form is the file form with the region decrypted: ordinary
 * plaintext records at their LSNs, which readers read as in an unencrypted
 * database. Everything about a record (kind, flags, namespace, lengths,
 * expiry, key, value) is inside the ciphertext.
 *
 * One createCipheriv per unit over contiguous bytes: the per-call setup
 * (~5-10 µs) is what kept the per-record scheme at a quarter of unencrypted
 * bulk-load speed, and one call over the region avoids any per-record work.
 */
import { crc32 } from '@node-rs/crc32';
import { AEAD_NONCE_SIZE, AEAD_TAG_SIZE, RECORD, RECORD_CRC_START, RECORD_FLAG_BATCH_SEALED, RECORD_FLAG_IN_TX, RECORD_HEADER_SIZE, RECORD_MAGIC, RecordKind, SEAL_KIND, SEAL_RECORD_SIZE, SEAL_VALUE_SIZE, TX_BEGIN_VALUE_SIZE } from '../format/constants.js';
import { checkRecord, frameSize, RecordFault } from '../format/record.js';
import { writeU64 } from '../format/u64.js';
import { nonceObserver, type RecordCrypt } from './record-crypt.js';

/**
 * Region bytes after which the writer starts a new unit (a single larger
 * record is a unit of its own). 64 KiB: large enough that the AEAD setup is
 * amortised over hundreds of small records (docs/BENCH.md), small enough that
 * a page cache reads one record by opening one bounded unit and a torn unit
 * loses at most this much besides the batch that was being written.
 */
export const UNIT_CAP = 64 * 1024;

/** Opener value fields (offsets from the record start). */
export const SEAL = {
  GENERATION: RECORD_HEADER_SIZE,
  REGION_BYTES: RECORD_HEADER_SIZE + 4,
  RECORD_COUNT: RECORD_HEADER_SIZE + 8,
  REGION_CRC: RECORD_HEADER_SIZE + 12,
  TAG: RECORD_HEADER_SIZE + 16,
} as const;
const AAD_SIZE = 8 + SEAL.REGION_CRC - RECORD_CRC_START;

/** Whether the record at `off` is a unit opener (fields only; the caller checked its CRC). */
export function isOpener(dv: DataView, off: number): boolean {
  return dv.getUint8(off + RECORD.KIND) === SEAL_KIND;
}

/** The opener's fields, or a fault when they are not those of an opener. */
export function readOpener(dv: DataView, off: number): { generation: number; bytes: number; count: number; crc: number } | number {
  if (dv.getUint8(off + RECORD.FLAGS) !== RECORD_FLAG_BATCH_SEALED || dv.getUint32(off + RECORD.VALUE_LEN, true) !== SEAL_VALUE_SIZE) return RecordFault.BAD_FIELDS;
  if (dv.getUint32(off + RECORD.NAMESPACE, true) !== 0 || dv.getUint32(off + RECORD.KEY_LEN, true) !== 0) return RecordFault.BAD_FIELDS;
  const bytes = dv.getUint32(off + SEAL.REGION_BYTES, true);
  const count = dv.getUint32(off + SEAL.RECORD_COUNT, true);
  if (count === 0 || count > bytes / RECORD_HEADER_SIZE) return RecordFault.BAD_FIELDS;
  return { generation: dv.getUint32(off + SEAL.GENERATION, true), bytes, count, crc: dv.getUint32(off + SEAL.REGION_CRC, true) };
}

/** A unit of a batch: the input offsets [from, to) of its records. */
interface Unit {
  from: number;
  to: number;
  count: number;
}

/**
 * Where units start in a plaintext batch: at its first sealable record, at
 * every TX_BEGIN (a torn transaction is then cut at a unit start), and past
 * UNIT_CAP. Durable marks stay outside units, plaintext.
 */
function plan(plain: Uint8Array, pdv: DataView): Unit[] {
  const units: Unit[] = [];
  let unit: Unit | undefined;
  for (let off = 0; off < plain.length; ) {
    const len = frameSize(pdv, off);
    const kind = pdv.getUint8(off + RECORD.KIND);
    if (kind === RecordKind.DURABLE_MARK) {
      unit = undefined;
    } else {
      if (unit === undefined || kind === RecordKind.TX_BEGIN || (off + len - unit.from > UNIT_CAP && unit.count > 0)) {
        unit = { from: off, to: off, count: 0 };
        units.push(unit);
      }
      unit.to = off + len;
      unit.count++;
    }
    off += len;
  }
  return units;
}

export class BatchCrypt {
  private readonly aad = new Uint8Array(AAD_SIZE);
  private readonly aadDv = new DataView(this.aad.buffer);
  private readonly nonceBuf = new Uint8Array(AEAD_NONCE_SIZE);
  private readonly nonceDv = new DataView(this.nonceBuf.buffer);

  constructor(readonly records: RecordCrypt) {}

  /**
   * Turns a batch framed by a producer (plaintext records) into its file form
   * and its mirror form, the first byte at `lsn`: durable marks stay as they
   * are, every other record goes into a unit sealed under this open's
   * generation. Runs on the writer thread, where LSNs are known.
   */
  encryptBatch(plain: Uint8Array, lsn: number): { file: Uint8Array; mirror: Uint8Array } {
    const pdv = new DataView(plain.buffer, plain.byteOffset, plain.byteLength);
    const units = plan(plain, pdv);
    const size = plain.length + units.length * SEAL_RECORD_SIZE;
    const mirror = new Uint8Array(size);
    const file = new Uint8Array(size);
    const mdv = new DataView(mirror.buffer);
    /** Output offset of each unit's opener; the open transaction's TX_BEGIN and the openers inside its body. */
    const openers: number[] = [];
    let out = 0;
    let unitIndex = 0;
    let txBegin = -1;
    let txOpeners = 0;
    for (let off = 0; off < plain.length; ) {
      const unit = units[unitIndex];
      if (unit !== undefined && unit.from === off) {
        const kind = pdv.getUint8(off + RECORD.KIND);
        if (txBegin >= 0 && kind !== RecordKind.TX_BEGIN) txOpeners++;
        openers.push(out);
        out += SEAL_RECORD_SIZE;
        mirror.set(plain.subarray(unit.from, unit.to), out);
        // Records of a unit are copied as framed; transaction begins learn the openers inside their body.
        for (let r = unit.from; r < unit.to; ) {
          const len = frameSize(pdv, r);
          const k = pdv.getUint8(r + RECORD.KIND);
          if (k === RecordKind.TX_BEGIN && len === RECORD_HEADER_SIZE + TX_BEGIN_VALUE_SIZE) {
            if (txBegin >= 0) this.fixBody(mirror, mdv, txBegin, txOpeners);
            txBegin = out + (r - unit.from);
            txOpeners = 0;
          } else if (k === RecordKind.TX_COMMIT && txBegin >= 0) {
            this.fixBody(mirror, mdv, txBegin, txOpeners);
            txBegin = -1;
          }
          r += len;
        }
        out += unit.to - unit.from;
        off = unit.to;
        unitIndex++;
        continue;
      }
      // A durable mark: plaintext, outside any unit.
      const len = frameSize(pdv, off);
      mirror.set(plain.subarray(off, off + len), out);
      out += len;
      off += len;
    }
    if (txBegin >= 0) this.fixBody(mirror, mdv, txBegin, txOpeners);
    file.set(mirror);
    openers.forEach((at, i) => {
      const unit = units[i]!;
      this.sealRegion(mirror, mdv, file, at, lsn + at, unit.to - unit.from, unit.count);
    });
    return { file, mirror };
  }

  /** A TX_BEGIN's bodyBytes (value word 2) counts the openers its body holds. */
  private fixBody(mirror: Uint8Array, mdv: DataView, begin: number, openers: number): void {
    if (openers === 0) return;
    const word = begin + RECORD_HEADER_SIZE + 8;
    mdv.setUint32(word, mdv.getUint32(word, true) + openers * SEAL_RECORD_SIZE, true);
    // The producer's CRC covered the old value: the record stays intact in both forms.
    mdv.setUint32(begin + RECORD.CRC, crc32(mirror.subarray(begin + RECORD_CRC_START, begin + RECORD_HEADER_SIZE + TX_BEGIN_VALUE_SIZE)), true);
  }

  /**
   * Writes the opener at `at` (both forms) and seals the region after it
   * for LSN `lsn` under this open's generation: ciphertext into `file`, tag,
   * region CRC and opener CRC into both.
   */
  sealRegion(mirror: Uint8Array, mdv: DataView, file: Uint8Array, at: number, lsn: number, bytes: number, count: number): void {
    const generation = this.records.generation;
    writeOpener(mdv, at, generation, bytes, count);
    const region = at + SEAL_RECORD_SIZE;
    const nonce = this.nonce(generation, lsn);
    nonceObserver?.(this.records.keys.records, nonce.slice());
    const tag = this.records.aead.seal(this.records.keys.records, nonce, this.aadOf(mirror, at, lsn), mirror.subarray(region, region + bytes), file.subarray(region, region + bytes));
    mirror.set(tag, at + SEAL.TAG);
    mdv.setUint32(at + SEAL.REGION_CRC, crc32(file.subarray(region, region + bytes)), true);
    mdv.setUint32(at + RECORD.CRC, crc32(mirror.subarray(at + RECORD_CRC_START, region)), true);
    file.set(mirror.subarray(at, region), at);
  }

  /**
   * Authenticates and decrypts the region of the opener at `lsn` (the opener
   * is the `SEAL_RECORD_SIZE` bytes of `opener`, the region's file bytes
   * `region`). Returns the plaintext, or undefined when it does not
   * authenticate at this position: moved, swapped, forged, or another key's.
   */
  openRegion(opener: Uint8Array, lsn: number, region: Uint8Array): Uint8Array | undefined {
    const dv = new DataView(opener.buffer, opener.byteOffset, opener.byteLength);
    const tag = opener.subarray(SEAL.TAG, SEAL.TAG + AEAD_TAG_SIZE);
    return this.records.aead.openAlloc(this.records.keys.records, this.nonce(dv.getUint32(SEAL.GENERATION, true), lsn), this.aadOf(opener, 0, lsn), region, tag);
  }

  private aadOf(u8: Uint8Array, at: number, lsn: number): Uint8Array {
    writeU64(this.aadDv, 0, lsn);
    this.aad.set(u8.subarray(at + RECORD_CRC_START, at + SEAL.REGION_CRC), 8);
    return this.aad;
  }

  private nonce(generation: number, lsn: number): Uint8Array {
    this.nonceDv.setUint32(0, generation, true);
    writeU64(this.nonceDv, 4, lsn);
    return this.nonceBuf;
  }
}

function writeOpener(dv: DataView, off: number, generation: number, bytes: number, count: number): void {
  dv.setUint32(off + RECORD.MAGIC, RECORD_MAGIC, true);
  dv.setUint8(off + RECORD.KIND, SEAL_KIND);
  dv.setUint8(off + RECORD.FLAGS, RECORD_FLAG_BATCH_SEALED);
  dv.setUint32(off + RECORD.VALUE_LEN, SEAL_VALUE_SIZE, true);
  dv.setUint32(off + SEAL.GENERATION, generation, true);
  dv.setUint32(off + SEAL.REGION_BYTES, bytes, true);
  dv.setUint32(off + SEAL.RECORD_COUNT, count, true);
}

/**
 * Whether a decrypted region holds exactly `count` well-formed records of a
 * unit: authenticated bytes are ours, but a region must never make the walk
 * step outside it. No CRC pass: the AEAD already authenticated every byte.
 */
export function regionWellFormed(plain: Uint8Array, count: number, maxKind: number): boolean {
  const dv = new DataView(plain.buffer, plain.byteOffset, plain.byteLength);
  let n = 0;
  for (let off = 0; off < plain.length; n++) {
    const len = checkRecord(plain, dv, off, plain.length, false, maxKind);
    if (len < 0) return false;
    const kind = dv.getUint8(off + RECORD.KIND);
    if (kind === RecordKind.DURABLE_MARK || (dv.getUint8(off + RECORD.FLAGS) & ~RECORD_FLAG_IN_TX) !== 0) return false;
    off += len;
  }
  return n === count;
}

/** Bytes of the unit whose opener is at `off` of `dv`: opener and region. */
export function unitSize(dv: DataView, off: number): number {
  return SEAL_RECORD_SIZE + dv.getUint32(off + SEAL.REGION_BYTES, true);
}
