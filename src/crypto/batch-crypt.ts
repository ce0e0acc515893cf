/**
 * Record scheme 2 (prelude byte 137 = 2): one AEAD per sealed unit of an
 * append batch instead of one per record (docs/FORMAT.md, "Sealed units").
 *
 * A unit at LSN L is a plaintext SEAL opener followed by its sealed region:
 *   opener = header(kind SEAL_KIND, flags BATCH_SEALED, value 40 bytes) ‖
 *            nonce(12) ‖ region bytes u32 ‖ record count u32 ‖ region CRC u32 ‖ tag(16)
 *   region = AEAD(the unit's records exactly as producers framed them)
 * nonce = 12 random bytes drawn for this unit; associated data = L u64 ‖
 * opener bytes [8, 52) (its header fields, nonce, region bytes, record
 * count), so a unit still cannot be moved. The nonce is random, not derived
 * from the file's history, because two copies of one file share its key and
 * its history and then write different units at the same LSN (FORMAT.md,
 * "Nonces"). Units written before it was stored (value 32 bytes: generation
 * in place of the nonce, nonce = generation u32 ‖ L u64) are still read, and
 * resealed in that layout only where the larger opener cannot fit (a backup
 * keeps every LSN). The region CRC (CRC32 of the region's file bytes) tells
 * a torn unit from a tampered one, as a record's CRC does. An AEAD does not
 * change lengths, so the mirror form is the file form with the region
 * decrypted: ordinary plaintext records at their LSNs, which readers read as
 * in an unencrypted database. Everything about a record (kind, flags,
 * namespace, lengths, expiry, key, value) is inside the ciphertext.
 *
 * One createCipheriv per unit over contiguous bytes: the per-call setup
 * (~5-10 µs) is what kept the per-record scheme at a quarter of unencrypted
 * bulk-load speed, and one call over the region avoids any per-record work.
 * The nonces of a batch come from one randomFillSync (docs/DESIGN.md,
 * "Encryption at rest", for its cost).
 */
import { crc32 } from '@node-rs/crc32';
import { AEAD_NONCE_SIZE, RECORD, RECORD_CRC_START, RECORD_FLAG_IN_TX, RECORD_HEADER_SIZE, RecordKind, SEAL_RECORD_SIZE, TX_BEGIN_VALUE_SIZE } from '../format/constants.js';
import { checkRecord, frameSize } from '../format/record.js';
import { readOpener, writeOpener, type OpenerFields } from '../format/seal-opener.js';
import { randomNonces } from './aead.js';
import { nonceObserver, type RecordCrypt } from './record-crypt.js';
import { UnitOpener } from './unit-open.js';

/**
 * Region bytes after which the writer starts a new unit (a single larger
 * record is a unit of its own). 16 KiB (64 KiB before the page cache read
 * encrypted logs; files keep the units they were written with, any size
 * reads): a read that misses the page cache opens the whole unit that holds
 * its record, 16-18 µs at 16 KiB against 38-44 µs at 64 KiB (docs/BENCH.md,
 * "Encrypted page-cache miss"), while the AEAD's fixed cost per call is still
 * amortised over a hundred small records (1.15 against 0.83 ns/byte to seal).
 * A torn unit loses at most this much besides the batch being written.
 */
export const UNIT_CAP = 16 * 1024;

/** LSN u64 ‖ the opener bytes before the region CRC, at most (the stored-nonce layout). */

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
  private readonly unit: UnitOpener;
  /** encryptBatch's reused outputs (the append path). */
  private mirrorScratch = new Uint8Array(0);
  private fileScratch = new Uint8Array(0);

  constructor(readonly records: RecordCrypt) {
    this.unit = new UnitOpener(records.aead, records.keys.records);
  }

  /**
   * Turns a batch framed by a producer (plaintext records) into its file form
   * and its mirror form, the first byte at `lsn`: durable marks stay as they
   * are, every other record goes into a unit sealed under a fresh random
   * nonce. Runs on the writer thread, where LSNs are known.
   *
   * `reuse`: both forms are views of this object's scratch, valid until its
   * next reusing call (the append path writes them before it returns). A
   * megabyte-sized pair per append was freed only by a later GC and kept
   * ~40 MiB of the writer's allocator through a load.
   */
  encryptBatch(plain: Uint8Array, lsn: number, reuse = false): { file: Uint8Array; mirror: Uint8Array } {
    const pdv = new DataView(plain.buffer, plain.byteOffset, plain.byteLength);
    const units = plan(plain, pdv);
    const size = plain.length + units.length * SEAL_RECORD_SIZE;
    if (reuse && this.mirrorScratch.length < size) {
      const grown = Math.max(size, this.mirrorScratch.length * 2);
      this.mirrorScratch = new Uint8Array(grown);
      this.fileScratch = new Uint8Array(grown);
    }
    const mirror = reuse ? this.mirrorScratch.subarray(0, size) : new Uint8Array(size);
    const file = reuse ? this.fileScratch.subarray(0, size) : new Uint8Array(size);
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
        // writeOpener leaves the header's zero fields alone: a reused scratch holds an earlier batch there.
        if (reuse) mirror.fill(0, out, out + SEAL_RECORD_SIZE);
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
    const nonces = randomNonces(units.length);
    openers.forEach((at, i) => {
      const unit = units[i]!;
      this.sealRegion(mirror, mdv, file, at, lsn + at, unit.to - unit.from, unit.count, nonces.subarray(i * AEAD_NONCE_SIZE, (i + 1) * AEAD_NONCE_SIZE));
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
   * Writes the opener at `at` (both forms) and seals the region after it for
   * LSN `lsn`: ciphertext into `file`, tag, region CRC and opener CRC into
   * both. `nonce`: the unit's 12 random bytes (stored in the opener); a key
   * generation instead reseals a derived-nonce unit in its own layout, for a
   * backup that must keep every LSN (a new file id: a key of its own, under
   * which each LSN is sealed once).
   */
  sealRegion(mirror: Uint8Array, mdv: DataView, file: Uint8Array, at: number, lsn: number, bytes: number, count: number, nonce: Uint8Array | number): void {
    writeOpener(mdv, at, bytes, count, nonce);
    const fields = readOpener(mdv, at) as OpenerFields;
    const region = at + fields.size;
    const opener = mirror.subarray(at, region);
    const used = this.unit.nonceOf(opener, fields, lsn);
    nonceObserver?.(this.records.keys.records, used.slice(), lsn);
    const tag = this.records.aead.seal(this.records.keys.records, used, this.unit.aadOf(opener, fields, lsn), mirror.subarray(region, region + bytes), file.subarray(region, region + bytes));
    mirror.set(tag, at + fields.tagAt);
    mdv.setUint32(at + fields.regionCrcAt, crc32(file.subarray(region, region + bytes)), true);
    mdv.setUint32(at + RECORD.CRC, crc32(mirror.subarray(at + RECORD_CRC_START, region)), true);
    file.set(opener, at);
  }

  /** Authenticates and decrypts the region of the opener at `lsn` (UnitOpener.openRegion). */
  openRegion(opener: Uint8Array, fields: OpenerFields, lsn: number, region: Uint8Array): Uint8Array | undefined {
    return this.unit.openRegion(opener, fields, lsn, region);
  }
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
