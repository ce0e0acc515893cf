/**
 * Record scheme 2 (prelude byte 137 = 2): one AEAD per sealed unit of an
 * append batch instead of one per record (docs/FORMAT.md, "Sealed units").
 *
 * A unit at LSN L is a SEAL opener followed by its members:
 *   opener  = header(kind SEAL_KIND, flags BATCH_SEALED, value 32 bytes) ‖
 *             generation u32 ‖ member bytes u32 ‖ member count u32 ‖ 0 u32 ‖ tag(16)
 *   member  = header(flags ENCRYPTED | BATCH_SEALED [| IN_TX], expires at 0) ‖
 *             sealed(expiresAt u64 ‖ key ‖ value)
 * nonce = generation u32 ‖ L u64; associated data = L u64 ‖ opener bytes
 * [8, 48) ‖ every member's header bytes [8, 32); the message = the members'
 * payloads in order. Every record keeps its own CRC over its file bytes, so a
 * torn unit is told from a tampered one. The mirror form holds the members'
 * plaintext at the same offsets, so readers find key and value in place.
 *
 * One createCipheriv per unit: that per-call setup (~5-10 µs) is what kept the
 * per-record scheme at a quarter of unencrypted bulk-load speed.
 */
import { crc32 } from '@node-rs/crc32';
import {
  AEAD_EXPIRY_SIZE,
  AEAD_NONCE_SIZE,
  AEAD_TAG_SIZE,
  RECORD,
  RECORD_CRC_START,
  RECORD_FLAG_BATCH_SEALED,
  RECORD_FLAG_ENCRYPTED,
  RECORD_FLAG_IN_TX,
  RECORD_HEADER_SIZE,
  RECORD_MAGIC,
  RecordKind,
  SEAL_KIND,
  SEAL_RECORD_SIZE,
  SEAL_VALUE_SIZE,
  TX_BEGIN_VALUE_SIZE,
} from '../format/constants.js';
import { frameSize, RecordFault } from '../format/record.js';
import { readU64, writeU64 } from '../format/u64.js';
import { nonceObserver, type RecordCrypt } from './record-crypt.js';

/**
 * Member bytes after which the writer starts a new unit (a single larger
 * record is a unit of its own). 64 KiB: large enough that the AEAD setup is
 * amortised over hundreds of small records (docs/BENCH.md), small enough that
 * a page cache reads one record by opening one bounded unit and a torn unit
 * loses at most this much besides the batch that was being written.
 */
export const UNIT_CAP = 64 * 1024;

/** Opener value fields (offsets from the record start). */
const SEAL = {
  GENERATION: RECORD_HEADER_SIZE,
  MEMBER_BYTES: RECORD_HEADER_SIZE + 4,
  MEMBER_COUNT: RECORD_HEADER_SIZE + 8,
  RESERVED: RECORD_HEADER_SIZE + 12,
  TAG: RECORD_HEADER_SIZE + 16,
} as const;
const MEMBER_FLAGS = RECORD_FLAG_ENCRYPTED | RECORD_FLAG_BATCH_SEALED;
const HEADER_AAD = RECORD_HEADER_SIZE - RECORD_CRC_START;
const OPENER_AAD = SEAL.TAG - RECORD_CRC_START;

/** A log split in segments (the shared mirror), or one buffer (`span` ≥ its length) whose byte 0 is LSN `origin`. */
export interface Segmented {
  u8: readonly Uint8Array[];
  dv: readonly DataView[];
  span: number;
  origin?: number;
}

/** Whether the record at `off` is a unit opener (fields only; the caller checked its CRC). */
export function isOpener(dv: DataView, off: number): boolean {
  return dv.getUint8(off + RECORD.KIND) === SEAL_KIND;
}

interface Plan {
  size: number;
  /** Per input record: opens a unit here (member bytes, count), or -1. */
  opens: Map<number, { bytes: number; count: number }>;
  /** Input offset of a TX_BEGIN → extra on-disk bytes of its body (member expiry fields, openers inside). */
  txExtra: Map<number, number>;
}

/** Where units start in a plaintext batch: at its first sealable record, every TX_BEGIN, and past UNIT_CAP. */
function plan(plain: Uint8Array, pdv: DataView): Plan {
  const opens = new Map<number, { bytes: number; count: number }>();
  const txExtra = new Map<number, number>();
  let unit: { bytes: number; count: number } | undefined;
  let tx = -1;
  let size = 0;
  for (let off = 0; off < plain.length; ) {
    const len = frameSize(pdv, off);
    const kind = pdv.getUint8(off + RECORD.KIND);
    if (kind === RecordKind.DURABLE_MARK) {
      unit = undefined;
      size += len;
      off += len;
      continue;
    }
    const member = len + AEAD_EXPIRY_SIZE;
    // A transaction starts its own unit, so a torn transaction is cut at a unit start.
    if (unit === undefined || kind === RecordKind.TX_BEGIN || (unit.bytes + member > UNIT_CAP && unit.count > 0)) {
      unit = { bytes: 0, count: 0 };
      opens.set(off, unit);
      size += SEAL_RECORD_SIZE;
      if (tx >= 0 && kind !== RecordKind.TX_BEGIN) txExtra.set(tx, txExtra.get(tx)! + SEAL_RECORD_SIZE);
    }
    if (kind === RecordKind.TX_BEGIN) {
      tx = off;
      txExtra.set(tx, 0);
    } else if (tx >= 0 && kind !== RecordKind.TX_COMMIT) {
      txExtra.set(tx, txExtra.get(tx)! + AEAD_EXPIRY_SIZE);
    } else if (kind === RecordKind.TX_COMMIT) {
      tx = -1;
    }
    unit.bytes += member;
    unit.count++;
    size += member;
    off += len;
  }
  return { size, opens, txExtra };
}

export class BatchCrypt {
  constructor(readonly records: RecordCrypt) {}

  /**
   * Turns a batch framed by a producer (plaintext records) into its file form
   * and its mirror form, the first byte at `lsn`: durable marks stay as they
   * are, every other record becomes a member of a unit sealed under this
   * open's generation. Runs on the writer thread, where LSNs are known.
   */
  encryptBatch(plain: Uint8Array, lsn: number): { file: Uint8Array; mirror: Uint8Array } {
    const pdv = new DataView(plain.buffer, plain.byteOffset, plain.byteLength);
    const p = plan(plain, pdv);
    const mirror = new Uint8Array(p.size);
    const mdv = new DataView(mirror.buffer);
    const units: number[] = [];
    let out = 0;
    for (let off = 0; off < plain.length; ) {
      const len = frameSize(pdv, off);
      const kind = pdv.getUint8(off + RECORD.KIND);
      if (kind === RecordKind.DURABLE_MARK) {
        mirror.set(plain.subarray(off, off + len), out);
        out += len;
        off += len;
        continue;
      }
      const opens = p.opens.get(off);
      if (opens) {
        units.push(out);
        writeOpener(mdv, out, this.records.generation, opens.bytes, opens.count);
        out += SEAL_RECORD_SIZE;
      }
      mirror.set(plain.subarray(off, off + RECORD_HEADER_SIZE), out);
      mdv.setUint8(out + RECORD.FLAGS, pdv.getUint8(off + RECORD.FLAGS) | MEMBER_FLAGS);
      writeU64(mdv, out + RECORD.EXPIRES_AT, 0);
      writeU64(mdv, out + RECORD_HEADER_SIZE, readU64(pdv, off + RECORD.EXPIRES_AT));
      mirror.set(plain.subarray(off + RECORD_HEADER_SIZE, off + len), out + RECORD_HEADER_SIZE + AEAD_EXPIRY_SIZE);
      const extra = p.txExtra.get(off);
      if (kind === RecordKind.TX_BEGIN && extra !== undefined && len === RECORD_HEADER_SIZE + TX_BEGIN_VALUE_SIZE) {
        const bodyBytes = out + RECORD_HEADER_SIZE + AEAD_EXPIRY_SIZE + 8;
        mdv.setUint32(bodyBytes, mdv.getUint32(bodyBytes, true) + extra, true);
      }
      out += len + AEAD_EXPIRY_SIZE;
      off += len;
    }
    const file = mirror.slice();
    const one: Segmented = { u8: [mirror], dv: [mdv], span: Number.MAX_SAFE_INTEGER };
    const fileDv = new DataView(file.buffer);
    for (const at of units) this.sealUnit(one, at, lsn + at, file, fileDv);
    // Durable marks were framed and CRC-sealed by the writer: same bytes in both forms.
    return { file, mirror };
  }

  /**
   * Seals the mirror-form unit at `off` of `view` for LSN `lsn`: writes its
   * file form at the same offsets of `file` (which holds a copy of the
   * mirror-form bytes) and the tag and CRCs into both forms.
   */
  sealUnit(view: Segmented, off: number, lsn: number, file: Uint8Array, fileDv: DataView): void {
    const odv = view.dv[0]!;
    odv.setUint32(off + SEAL.GENERATION, this.records.generation, true);
    fileDv.setUint32(off + SEAL.GENERATION, this.records.generation, true);
    const members = memberOffsets(odv, off);
    const { aad, payload } = gather(view, off, lsn, members);
    const nonce = this.nonce(this.records.generation, lsn);
    nonceObserver?.(this.records.keys.records, nonce.slice());
    const ct = new Uint8Array(payload.length);
    const tag = this.records.aead.seal(this.records.keys.records, nonce, aad, payload, ct);
    let c = 0;
    for (const m of members) {
      const len = frameSize(odv, m);
      const n = len - RECORD_HEADER_SIZE;
      file.set(ct.subarray(c, c + n), m + RECORD_HEADER_SIZE);
      c += n;
      setCrc(odv, file, fileDv, m, len);
    }
    view.u8[0]!.set(tag, off + SEAL.TAG);
    file.set(tag, off + SEAL.TAG);
    setCrc(odv, file, fileDv, off, SEAL_RECORD_SIZE);
  }

  /**
   * Authenticates the unit at `lsn` (checked by checkUnit) and decrypts its
   * members in place into their mirror form. False when it does not
   * authenticate at this position: moved, swapped, forged, or another key's.
   */
  openUnit(view: Segmented, lsn: number, members: readonly number[]): boolean {
    const { u8, dv, off } = at(view, lsn);
    const generation = dv.getUint32(off + SEAL.GENERATION, true);
    const memberOffs = members.map((m) => m - lsn);
    const { aad, payload } = gather(view, off, lsn, memberOffs, lsn);
    const tag = u8.subarray(off + SEAL.TAG, off + SEAL.TAG + AEAD_TAG_SIZE);
    const plain = new Uint8Array(payload.length);
    if (!this.records.aead.open(this.records.keys.records, this.nonce(generation, lsn), aad, payload, tag, plain)) return false;
    let c = 0;
    for (const m of members) {
      const r = at(view, m);
      const n = frameSize(r.dv, r.off) - RECORD_HEADER_SIZE;
      r.u8.set(plain.subarray(c, c + n), r.off + RECORD_HEADER_SIZE);
      c += n;
    }
    return true;
  }

  private nonce(generation: number, lsn: number): Uint8Array {
    const nonce = new Uint8Array(AEAD_NONCE_SIZE);
    const dv = new DataView(nonce.buffer);
    dv.setUint32(0, generation, true);
    writeU64(dv, 4, lsn);
    return nonce;
  }
}

/**
 * Checks the opener at `lsn` (fields and CRC already checked) and its members
 * with `checkMember` (a record check returning its length or a fault).
 * Returns the member LSNs, or a negative fault: a torn or damaged member, or
 * a unit that claims more bytes than `end`.
 */
export function checkUnit(view: Segmented, lsn: number, end: number, checkMember: (lsn: number) => number): number[] | number {
  const { dv, off } = at(view, lsn);
  if (dv.getUint8(off + RECORD.FLAGS) !== RECORD_FLAG_BATCH_SEALED || dv.getUint32(off + RECORD.VALUE_LEN, true) !== SEAL_VALUE_SIZE) return RecordFault.BAD_FIELDS;
  if (dv.getUint32(off + RECORD.NAMESPACE, true) !== 0 || dv.getUint32(off + RECORD.KEY_LEN, true) !== 0 || dv.getUint32(off + SEAL.RESERVED, true) !== 0) return RecordFault.BAD_FIELDS;
  const bytes = dv.getUint32(off + SEAL.MEMBER_BYTES, true);
  const count = dv.getUint32(off + SEAL.MEMBER_COUNT, true);
  let m = lsn + SEAL_RECORD_SIZE;
  const unitEnd = m + bytes;
  if (count === 0 || count > bytes / RECORD_HEADER_SIZE) return RecordFault.BAD_FIELDS;
  if (unitEnd > end) return RecordFault.TRUNCATED;
  const members: number[] = [];
  for (let i = 0; i < count; i++) {
    if (m >= unitEnd) return RecordFault.BAD_FIELDS;
    const len = checkMember(m);
    if (len < 0) return len;
    const r = at(view, m);
    if ((r.dv.getUint8(r.off + RECORD.FLAGS) & ~RECORD_FLAG_IN_TX) !== MEMBER_FLAGS) return RecordFault.BAD_FIELDS;
    const kind = r.dv.getUint8(r.off + RECORD.KIND);
    if (kind === SEAL_KIND || kind === RecordKind.DURABLE_MARK) return RecordFault.BAD_FIELDS;
    members.push(m);
    m += len;
  }
  return m === unitEnd ? members : RecordFault.BAD_FIELDS;
}

function at(view: Segmented, lsn: number): { u8: Uint8Array; dv: DataView; off: number } {
  const rel = lsn - (view.origin ?? 0);
  const seg = Math.floor(rel / view.span);
  return { u8: view.u8[seg]!, dv: view.dv[seg]!, off: rel - seg * view.span };
}

/** Bytes of the unit whose opener is at `off` of `dv`: opener and members. */
export function unitSize(dv: DataView, off: number): number {
  return SEAL_RECORD_SIZE + dv.getUint32(off + SEAL.MEMBER_BYTES, true);
}

function writeOpener(dv: DataView, off: number, generation: number, bytes: number, count: number): void {
  dv.setUint32(off + RECORD.MAGIC, RECORD_MAGIC, true);
  dv.setUint8(off + RECORD.KIND, SEAL_KIND);
  dv.setUint8(off + RECORD.FLAGS, RECORD_FLAG_BATCH_SEALED);
  dv.setUint32(off + RECORD.VALUE_LEN, SEAL_VALUE_SIZE, true);
  dv.setUint32(off + SEAL.GENERATION, generation, true);
  dv.setUint32(off + SEAL.MEMBER_BYTES, bytes, true);
  dv.setUint32(off + SEAL.MEMBER_COUNT, count, true);
}

/** Offsets (in one buffer) of the members of the opener at `off`. */
function memberOffsets(dv: DataView, off: number): number[] {
  const count = dv.getUint32(off + SEAL.MEMBER_COUNT, true);
  const out: number[] = [];
  let m = off + SEAL_RECORD_SIZE;
  for (let i = 0; i < count; i++) {
    out.push(m);
    m += frameSize(dv, m);
  }
  return out;
}

/**
 * The associated data (LSN, opener fields, member headers) and the payload
 * bytes of a unit, copied together so the AEAD runs once over contiguous
 * memory. `members` are offsets relative to `base` (0: `view` is one buffer
 * and they are absolute; otherwise LSNs minus the opener's LSN `base`).
 */
function gather(view: Segmented, openerOff: number, lsn: number, members: readonly number[], base = 0): { aad: Uint8Array; payload: Uint8Array } {
  const aad = new Uint8Array(8 + OPENER_AAD + members.length * HEADER_AAD);
  const adv = new DataView(aad.buffer);
  writeU64(adv, 0, lsn);
  const o = base === 0 ? { u8: view.u8[0]!, off: openerOff } : at(view, base);
  aad.set(o.u8.subarray(o.off + RECORD_CRC_START, o.off + SEAL.TAG), 8);
  let payloadLen = 0;
  const recs = members.map((m) => {
    const r = base === 0 ? { u8: view.u8[0]!, dv: view.dv[0]!, off: m } : at(view, base + m);
    const len = frameSize(r.dv, r.off);
    payloadLen += len - RECORD_HEADER_SIZE;
    return { r, len };
  });
  const payload = new Uint8Array(payloadLen);
  let a = 8 + OPENER_AAD;
  let p = 0;
  for (const { r, len } of recs) {
    aad.set(r.u8.subarray(r.off + RECORD_CRC_START, r.off + RECORD_HEADER_SIZE), a);
    a += HEADER_AAD;
    payload.set(r.u8.subarray(r.off + RECORD_HEADER_SIZE, r.off + len), p);
    p += len - RECORD_HEADER_SIZE;
  }
  return { aad, payload };
}

/** The CRC of the file form, stored in both forms (the mirror keeps the file's CRC, as in scheme 1). */
function setCrc(mdv: DataView, file: Uint8Array, fileDv: DataView, off: number, len: number): void {
  const crc = crc32(file.subarray(off + RECORD_CRC_START, off + len));
  mdv.setUint32(off + RECORD.CRC, crc, true);
  fileDv.setUint32(off + RECORD.CRC, crc, true);
}
