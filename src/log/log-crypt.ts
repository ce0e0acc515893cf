/**
 * The encryption state of one open log: the database keys, the subkeys of
 * the current file, and the header-slot MAC (docs/FORMAT.md, "Encryption").
 * Every unit or record is sealed under a fresh random nonce stored with it,
 * so nothing here depends on the file's history (FORMAT.md, "Nonces").
 */
import { crc32 } from '@node-rs/crc32';
import { EmdbError, ErrorCode } from '../errors.js';
import { MAX_RECORD_KIND, RECORD_FLAG_BATCH_SEALED, RECORD_FLAG_ENCRYPTED, SEAL_KIND, SLOT, SLOT_MAC_SIZE } from '../format/constants.js';
import { encodeSlot, type HeaderSlot } from '../format/header.js';
import { recordFlags } from '../format/record-fields.js';
import { PrefixCrc } from './prefix-crc.js';
import type { MirrorView } from '../shm/mirror.js';
import type { DbKeys } from '../crypto/keys.js';
import { mustBeSealed, RecordCrypt } from '../crypto/record-crypt.js';
import { snapshotSealer, type SnapshotSealer } from '../crypto/snapshot-crypt.js';
import { checkRecord, RecordFault } from '../format/record.js';
import { BatchCrypt, regionWellFormed } from '../crypto/batch-crypt.js';
import { isOpener, readOpener, type OpenerFields } from '../format/seal-opener.js';
import { randomNonces } from '../crypto/aead.js';
import { RECORD_SCHEME_SEALED_UNITS } from '../crypto/keys.js';
import type { MirrorWriter } from '../shm/mirror.js';

/** Bytes of a header slot write in an encrypted file: the slot and its MAC. */
export const SEALED_SLOT_SIZE = SLOT.MAC + SLOT_MAC_SIZE;

export class LogCrypt {
  readonly records: RecordCrypt;
  readonly snapshot: SnapshotSealer;
  /** Record scheme 2 (new files): records are sealed a unit at a time; undefined for a scheme 1 file. */
  readonly batch: BatchCrypt | undefined;

  constructor(
    readonly keys: DbKeys,
    fileId: Uint8Array,
  ) {
    this.records = new RecordCrypt(keys.forFile(fileId));
    this.snapshot = snapshotSealer(this.records.keys);
    this.batch = keys.scheme === RECORD_SCHEME_SEALED_UNITS ? new BatchCrypt(this.records) : undefined;
  }

  /**
   * The file form and mirror form of a producer-framed batch appended at
   * `lsn`, under the file's scheme; scheme 2's are views of a scratch, valid
   * until the next call (the append writes both before it returns).
   */
  sealBatch(plain: Uint8Array, lsn: number): { file: Uint8Array; mirror: Uint8Array } {
    return this.batch ? this.batch.encryptBatch(plain, lsn, true) : this.records.encryptBatch(plain, lsn);
  }

  /**
   * A header slot write: the slot then its keyed MAC. Its key generation is 0:
   * nonces no longer derive from one (FORMAT.md, "Nonces").
   */
  slotBytes(slot: HeaderSlot): Uint8Array {
    const out = new Uint8Array(SEALED_SLOT_SIZE);
    out.set(encodeSlot(slot));
    out.set(this.keys.slotMac(out.subarray(0, SLOT.MAC)), SLOT.MAC);
    return out;
  }

  /** Whether a slot page's MAC authenticates its bytes (a forged or foreign slot does not). */
  acceptSlot = (page: Uint8Array): boolean => this.keys.slotMacOk(page.subarray(0, SLOT.MAC), page.subarray(SLOT.MAC, SLOT.MAC + SLOT_MAC_SIZE));
}

/**
 * Recovery's view of the records it walks (log/recovery.ts): every record it
 * checks passes through `open` once, in LSN order, which decrypts it in place
 * (a record that fails authentication is corruption, wherever it is: its CRC
 * passed, so it is not a torn write) and folds its file bytes into the prefix
 * CRC the writer continues from. In a scheme 2 file the record is a unit
 * opener, and its whole region is checked, fed and decrypted at once.
 */
export class ReplayCrypt {
  /** Records below this LSN are already decrypted in the mirror. */
  plainTo: number;
  readonly prefix: FedPrefixCrc;
  /** Scheme 2: the units opened, ascending (opener LSN, end), so a cut never lands inside one. */
  private readonly openers: number[] = [];
  private readonly unitEnds: number[] = [];

  constructor(
    private readonly crypt: LogCrypt | undefined,
    prefix: { lsn: number; crc: number },
  ) {
    this.plainTo = 0;
    this.prefix = new FedPrefixCrc();
    this.prefix.reset(prefix.lsn, prefix.crc);
  }

  /**
   * Returns the record's length, or a fault: BAD_FIELDS when its protection
   * does not match the file's (a plaintext record in an encrypted file, the
   * reverse, a unit opener in a scheme 1 file); for a unit opener, a torn or
   * damaged region (the unit is then residue or corruption as a whole).
   * `verifiedTo`: bytes before it matched the slot's prefix CRC.
   */
  open(mirror: MirrorWriter, lsn: number, len: number, end: number, verifiedTo: number): number {
    const off = mirror.walkAt(lsn);
    const u8 = mirror.walkU8;
    const dv = mirror.walkDv;
    const flags = recordFlags(dv, off);
    const batch = this.crypt?.batch;
    if (batch && isOpener(dv, off)) return this.openUnit(batch, mirror, lsn, len, end, verifiedTo);
    if ((flags & RECORD_FLAG_BATCH_SEALED) !== 0) return RecordFault.BAD_FIELDS;
    const sealed = (flags & RECORD_FLAG_ENCRYPTED) !== 0;
    const must = this.crypt !== undefined && mustBeSealed(dv, off);
    // A scheme 2 file holds durable marks and units, nothing else at the top level.
    if (sealed !== must || (batch && must)) return RecordFault.BAD_FIELDS;
    if (lsn === this.prefix.lsn) this.prefix.feed(u8.subarray(off, off + len));
    if (sealed && !this.crypt!.records.openInPlace(u8, dv, off, lsn)) throw authFailure(lsn);
    this.plainTo = lsn + len;
    return len;
  }

  /**
   * Where the log must end if it is cut at `lsn`: the opener of the unit
   * holding `lsn` (a transaction found incomplete starts inside its first
   * unit), so a kept unit is always whole and authenticates again.
   */
  cutPoint(lsn: number): number {
    let lo = 0;
    let hi = this.openers.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.openers[mid]! <= lsn) lo = mid + 1;
      else hi = mid - 1;
    }
    return hi >= 0 && lsn > this.openers[hi]! && lsn < this.unitEnds[hi]! ? this.openers[hi]! : lsn;
  }

  private openUnit(batch: BatchCrypt, mirror: MirrorWriter, lsn: number, len: number, end: number, verifiedTo: number): number {
    const opened = openUnitBytes(mirror, lsn, end, verifiedTo);
    if (typeof opened === 'number') return opened;
    if (lsn === this.prefix.lsn) {
      this.prefix.feed(opened.opener);
      this.prefix.feed(opened.region);
    }
    decryptUnit(batch, mirror, lsn, opened, MAX_RECORD_KIND);
    this.plainTo = lsn + len + opened.region.length;
    this.openers.push(lsn);
    this.unitEnds.push(this.plainTo);
    // The opener alone: the walker steps through the unit's records, already plaintext (below plainTo).
    return len;
  }
}

interface UnitBytes {
  opener: Uint8Array;
  fields: OpenerFields;
  region: Uint8Array;
}

/** The opener at `lsn` (walked at open: MirrorWriter.walkAt) and its region's file bytes, checked (region CRC unless verified), or a fault. */
function openUnitBytes(mirror: MirrorWriter, lsn: number, end: number, verifiedTo: number): UnitBytes | number {
  const off = mirror.walkAt(lsn);
  const fields = readOpener(mirror.walkDv, off);
  if (typeof fields === 'number') return fields;
  // A copy: reading the region may move a window (WindowedLog) over the bytes a view would point at.
  const opener = mirror.walkU8.slice(off, off + fields.size);
  const from = lsn + fields.size;
  if (from + fields.bytes > end) return RecordFault.TRUNCATED;
  const region = logRange(mirror, from, fields.bytes);
  // Bytes the prefix CRC verified need no CRC of their own; the AEAD authenticates them either way.
  if (from + fields.bytes > verifiedTo && crc32(region) !== fields.crc) return RecordFault.BAD_CRC;
  return { opener, fields, region };
}

/** Authenticates a unit's region and writes its plaintext records into the mirror; corruption (with the unit's offset) otherwise. */
function decryptUnit(batch: BatchCrypt, mirror: MirrorWriter, lsn: number, unit: UnitBytes, maxKind: number): void {
  const plain = batch.openRegion(unit.opener, unit.fields, lsn, unit.region);
  if (!plain) throw authFailure(lsn);
  if (!regionWellFormed(plain, unit.fields.count, maxKind)) {
    throw new EmdbError(ErrorCode.CORRUPTION, `corrupt log at offset ${lsn}: sealed unit holds malformed records`, { offset: lsn });
  }
  mirror.write(lsn + unit.fields.size, plain);
}

/** The log bytes [from, from + len): a view when one read returns them all, else a copy. */
function logRange(mirror: MirrorView, from: number, len: number): Uint8Array {
  const first = mirror.logBytes(from, len);
  if (first.length === len) return first;
  // Gathered into one buffer as they come: a window (WindowedLog) reuses its buffer for the next part.
  const out = new Uint8Array(len);
  out.set(first);
  for (let at = from + first.length; at < from + len; ) {
    const next = mirror.logBytes(at, from + len - at);
    if (next.length === 0) throw new RangeError(`log bytes ${at}..${from + len} are not there`);
    out.set(next, at - from);
    at += next.length;
  }
  return out;
}

function authFailure(lsn: number): EmdbError {
  return new EmdbError(ErrorCode.CORRUPTION, `corrupt log at offset ${lsn}: record fails authentication (tampered, moved, or sealed under another key)`, { offset: lsn });
}

/**
 * A prefix CRC fed with the file bytes as they are written: an encrypted
 * log's mirror holds plaintext, so the CRC of the file cannot be recomputed
 * from it. Remembers the CRC at each batch end until a checkpoint asks for it.
 */
export class FedPrefixCrc extends PrefixCrc {
  private ends: { lsn: number; crc: number }[] = [];

  feed(bytes: Uint8Array): void {
    this.crc = crc32(bytes, this.crc);
    this.lsn += bytes.length;
    this.ends.push({ lsn: this.lsn, crc: this.crc });
  }

  override upTo(_mirror: MirrorView, to: number): number {
    if (to === this.lsn) {
      this.ends = [{ lsn: to, crc: this.crc }];
      return this.crc;
    }
    const i = this.ends.findIndex((e) => e.lsn === to);
    if (i < 0) throw new RangeError(`no prefix CRC recorded at ${to}`);
    const crc = this.ends[i]!.crc;
    this.ends = this.ends.slice(i);
    return crc;
  }

  override reset(lsn: number, crc: number): void {
    super.reset(lsn, crc);
    this.ends = [{ lsn, crc }];
  }
}

/**
 * Decrypts the records of [from, to) in the mirror in place: the prefix an
 * index snapshot stands for, whose bytes the prefix CRC has just matched.
 * A record that fails authentication there is corruption (ERR_EMDB_CORRUPTION
 * with its offset): the CRC proves the bytes are the ones written. Walked with
 * MirrorWriter.walkAt, as recovery walks: bytes just read, checked here and
 * written back as plaintext.
 */
export function decryptPrefix(mirror: MirrorWriter, crypt: LogCrypt, from: number, to: number): void {
  const bad = (lsn: number): EmdbError => new EmdbError(ErrorCode.CORRUPTION, `corrupt log at offset ${lsn}: record fails authentication`, { offset: lsn });
  for (let lsn = from; lsn < to; ) {
    const off = mirror.walkAt(lsn);
    const u8 = mirror.walkU8;
    const dv = mirror.walkDv;
    // CRC32 is no defence against a deliberate edit: lengths are bounded here and every sealed record authenticated.
    const len = checkRecord(u8, dv, off, Math.min(u8.length, to - (lsn - off)), false, crypt.batch ? SEAL_KIND : MAX_RECORD_KIND);
    if (len < 0) throw bad(lsn);
    if (crypt.batch && isOpener(dv, off)) {
      // The prefix CRC matched these bytes: no region CRC, one AEAD per unit.
      const unit = openUnitBytes(mirror, lsn, to, to);
      if (typeof unit === 'number') throw bad(lsn);
      decryptUnit(crypt.batch, mirror, lsn, unit, MAX_RECORD_KIND);
      lsn += len + unit.region.length;
      continue;
    }
    const sealed = (recordFlags(dv, off) & RECORD_FLAG_ENCRYPTED) !== 0;
    if ((recordFlags(dv, off) & RECORD_FLAG_BATCH_SEALED) !== 0 || (crypt.batch && mustBeSealed(dv, off)) || sealed !== mustBeSealed(dv, off) || (sealed && !crypt.records.openInPlace(u8, dv, off, lsn))) {
      throw bad(lsn);
    }
    lsn += len;
  }
}

/**
 * Scheme 2, reopen with an index snapshot: the prefix CRC of the file bytes
 * [from, to) and their decryption in one pass, unit by unit (each unit's
 * bytes are CRC'd while in cache, then decrypted). True when the CRC equals
 * `expected` and every unit authenticated: the prefix is then plaintext in
 * the mirror. False otherwise, with the mirror possibly partly decrypted: the
 * caller reloads it and takes the two-pass path, which reports what is wrong.
 */
export function fusedPrefix(mirror: MirrorWriter, crypt: LogCrypt, from: number, to: number, expected: number): boolean {
  const batch = crypt.batch!;
  let crc = 0;
  for (let lsn = from; lsn < to; ) {
    const off = mirror.walkAt(lsn);
    const u8 = mirror.walkU8;
    const dv = mirror.walkDv;
    const len = checkRecord(u8, dv, off, Math.min(u8.length, to - (lsn - off)), false, SEAL_KIND);
    if (len < 0) return false;
    if (!isOpener(dv, off)) {
      if (mustBeSealed(dv, off) || recordFlags(dv, off) !== 0) return false;
      crc = crc32(u8.subarray(off, off + len), crc);
      lsn += len;
      continue;
    }
    const unit = openUnitBytes(mirror, lsn, to, to);
    if (typeof unit === 'number') return false;
    crc = crc32(unit.region, crc32(unit.opener, crc));
    // No structure check of the records: the tag proves our writer framed them, and the prefix is not walked (the snapshot indexes it).
    const plain = batch.openRegion(unit.opener, unit.fields, lsn, unit.region);
    if (!plain) return false;
    mirror.write(lsn + unit.fields.size, plain);
    lsn += len + unit.region.length;
  }
  return crc === expected;
}

/**
 * The file form of the mirror-form unit at `lsn` of `mirror` (opener and
 * plaintext records), sealed again at the same LSN under `crypt`'s file
 * subkey (a backup: its own file id, so its own key). A fresh random nonce;
 * a derived-nonce unit keeps its layout and generation, as a backup must keep
 * every LSN and the larger opener would shift them: under the backup's new
 * key each LSN is sealed once, and no writer derives a nonce any more.
 */
export function resealUnit(mirror: MirrorView, crypt: LogCrypt, lsn: number): Uint8Array {
  // A backup reads the whole log and loaded every page before it started.
  const off = mirror.residentRecordAt(lsn);
  const fields = readOpener(mirror.recDv, off);
  if (typeof fields === 'number') throw new RangeError(`no unit opener at ${lsn}`);
  const form = new Uint8Array(fields.size + fields.bytes);
  form.set(logRange(mirror, lsn + fields.size, fields.bytes), fields.size);
  const file = new Uint8Array(form.length);
  crypt.batch!.sealRegion(form, new DataView(form.buffer), file, 0, lsn, fields.bytes, fields.count, fields.generation ?? randomNonces(1));
  return file;
}
