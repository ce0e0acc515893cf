/**
 * The encryption state of one open log: the database keys, the subkeys of
 * the current file, the key generation records are sealed under, and the
 * header-slot MAC (docs/FORMAT.md, "Encryption").
 */
import { crc32 } from '@node-rs/crc32';
import { EmdbError, ErrorCode } from '../errors.js';
import { PAGE_SIZE, RECORD_FLAG_BATCH_SEALED, RECORD_FLAG_ENCRYPTED, SEAL_KIND, SLOT, SLOT_A_OFFSET, SLOT_B_OFFSET, SLOT_MAC_SIZE, SLOT_SIZE } from '../format/constants.js';
import { decodeSlot, encodeSlot, type HeaderSlot } from '../format/header.js';
import { recordFlags } from '../format/record-fields.js';
import { PrefixCrc } from './prefix-crc.js';
import type { MirrorView } from '../shm/mirror.js';
import type { DbKeys } from '../crypto/keys.js';
import { mustBeSealed, RecordCrypt } from '../crypto/record-crypt.js';
import { snapshotSealer, type SnapshotSealer } from '../crypto/snapshot-crypt.js';
import { SEGMENT_SPAN, segmentOf, segmentOffset } from '../shm/layout.js';
import { checkRecord, frameSize, RecordFault } from '../format/record.js';
import { BatchCrypt, checkUnit, isOpener, type Segmented } from '../crypto/batch-crypt.js';
import { RECORD_SCHEME_SEALED_UNITS } from '../crypto/keys.js';
import type { MirrorWriter } from '../shm/mirror.js';

/** Bytes of a header slot write in an encrypted file: the slot and its MAC. */
export const SEALED_SLOT_SIZE = SLOT.MAC + SLOT_MAC_SIZE;

export class LogCrypt {
  readonly records: RecordCrypt;
  readonly snapshot: SnapshotSealer;
  /** Record scheme 2 (new files): records are sealed a unit at a time; undefined for a scheme 1 file. */
  readonly batch: BatchCrypt | undefined;
  /** False until this open's generation is durable in a header slot: nothing is sealed before that. */
  generationDurable = false;

  constructor(
    readonly keys: DbKeys,
    fileId: Uint8Array,
    generation: number,
  ) {
    this.records = new RecordCrypt(keys.forFile(fileId), generation);
    this.snapshot = snapshotSealer(this.records.keys);
    this.batch = keys.scheme === RECORD_SCHEME_SEALED_UNITS ? new BatchCrypt(this.records) : undefined;
  }

  /** The file form and mirror form of a producer-framed batch appended at `lsn`, under the file's scheme. */
  sealBatch(plain: Uint8Array, lsn: number): { file: Uint8Array; mirror: Uint8Array } {
    return this.batch ? this.batch.encryptBatch(plain, lsn) : this.records.encryptBatch(plain, lsn);
  }

  /** A header slot write: the slot (with the key generation) then its keyed MAC. */
  slotBytes(slot: HeaderSlot): Uint8Array {
    const out = new Uint8Array(SEALED_SLOT_SIZE);
    out.set(encodeSlot({ ...slot, keyGeneration: this.records.generation }));
    out.set(this.keys.slotMac(out.subarray(0, SLOT.MAC)), SLOT.MAC);
    return out;
  }

  /** Whether a slot page's MAC authenticates its bytes (a forged or foreign slot does not). */
  acceptSlot = (page: Uint8Array): boolean => this.keys.slotMacOk(page.subarray(0, SLOT.MAC), page.subarray(SLOT.MAC, SLOT.MAC + SLOT_MAC_SIZE));
}

/** The highest key generation any authenticated slot of `header` records (0 for a new file). */
export function highestGeneration(header: Uint8Array, version: number, accept: (page: Uint8Array) => boolean): number {
  let gen = 0;
  for (const at of [SLOT_A_OFFSET, SLOT_B_OFFSET]) {
    const s = decodeSlot(header.subarray(at, at + SLOT_SIZE), version);
    if (s && accept(header.subarray(at, at + PAGE_SIZE))) gen = Math.max(gen, s.keyGeneration ?? 0);
  }
  return gen;
}

/** The mirror as a Segmented view (crypto/batch-crypt.ts). */
export function segmentedMirror(mirror: MirrorView): Segmented {
  return { u8: mirror.u8, dv: mirror.dv, span: SEGMENT_SPAN };
}

/**
 * Recovery's view of the records it walks (log/recovery.ts): every record it
 * checks passes through `open` once, in LSN order, which decrypts it in place
 * (a record that fails authentication is corruption, wherever it is: its CRC
 * passed, so it is not a torn write) and folds its file bytes into the prefix
 * CRC the writer continues from. In a scheme 2 file the record is a unit
 * opener, and the whole unit is checked, fed and decrypted at once.
 */
export class ReplayCrypt {
  /** Records below this LSN are already decrypted in the mirror. */
  plainTo: number;
  readonly prefix: FedPrefixCrc;

  constructor(
    private readonly crypt: LogCrypt | undefined,
    prefix: { lsn: number; crc: number },
  ) {
    this.plainTo = 0;
    this.prefix = new FedPrefixCrc();
    this.prefix.reset(prefix.lsn, prefix.crc);
  }

  /**
   * Returns the length to step over (a whole unit for an opener), or a fault:
   * BAD_FIELDS when the record's protection does not match the file's (a
   * plaintext record in an encrypted file, a unit member outside its unit),
   * or a torn or damaged member of a unit (the unit is then residue or
   * corruption as a whole). `checkMember` checks a member's fields and CRC.
   */
  open(view: Segmented, u8: Uint8Array, dv: DataView, off: number, lsn: number, len: number, end: number, checkMember: (lsn: number) => number): number {
    const flags = recordFlags(dv, off);
    const batch = this.crypt?.batch;
    if (batch && isOpener(dv, off)) return this.openUnit(batch, view, lsn, end, checkMember);
    if ((flags & RECORD_FLAG_BATCH_SEALED) !== 0) return RecordFault.BAD_FIELDS;
    const sealed = (flags & RECORD_FLAG_ENCRYPTED) !== 0;
    const must = this.crypt !== undefined && mustBeSealed(dv, off);
    if (sealed !== must || (batch && sealed)) return RecordFault.BAD_FIELDS;
    if (lsn === this.prefix.lsn) this.prefix.feed(u8.subarray(off, off + len));
    if (sealed && !this.crypt!.records.openInPlace(u8, dv, off, lsn)) throw authFailure(lsn);
    this.plainTo = lsn + len;
    return len;
  }

  private openUnit(batch: BatchCrypt, view: Segmented, lsn: number, end: number, checkMember: (lsn: number) => number): number {
    const members = checkUnit(view, lsn, end, checkMember);
    if (typeof members === 'number') return members;
    const unitEnd = members.length > 0 ? members.at(-1)! + frameSizeAt(view, members.at(-1)!) : lsn;
    if (lsn === this.prefix.lsn) {
      for (const r of [lsn, ...members]) this.prefix.feed(bytesAt(view, r));
    }
    if (!batch.openUnit(view, lsn, members)) throw authFailure(lsn);
    this.plainTo = unitEnd;
    // The opener alone: the walker steps through the members, already decrypted (below plainTo).
    return frameSizeAt(view, lsn);
  }
}

function authFailure(lsn: number): EmdbError {
  return new EmdbError(ErrorCode.CORRUPTION, `corrupt log at offset ${lsn}: record fails authentication (tampered, moved, or sealed under another key)`, { offset: lsn });
}

function frameSizeAt(view: Segmented, lsn: number): number {
  const seg = Math.floor(lsn / view.span);
  return frameSize(view.dv[seg]!, lsn - seg * view.span);
}

function bytesAt(view: Segmented, lsn: number): Uint8Array {
  const seg = Math.floor(lsn / view.span);
  const off = lsn - seg * view.span;
  return view.u8[seg]!.subarray(off, off + frameSize(view.dv[seg]!, off));
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
 * with its offset): the CRC proves the bytes are the ones written.
 */
export function decryptPrefix(mirror: MirrorWriter, crypt: LogCrypt, from: number, to: number): void {
  const view = segmentedMirror(mirror);
  const bad = (lsn: number): EmdbError => new EmdbError(ErrorCode.CORRUPTION, `corrupt log at offset ${lsn}: record fails authentication`, { offset: lsn });
  // CRC32 is no defence against a deliberate edit: lengths are bounded here and every sealed record authenticated.
  const fields = (lsn: number): number => {
    const seg = segmentOf(lsn);
    return checkRecord(mirror.u8[seg]!, mirror.dv[seg]!, segmentOffset(lsn), Math.min(mirror.u8[seg]!.length, to - seg * SEGMENT_SPAN), false, SEAL_KIND);
  };
  for (let lsn = from; lsn < to; ) {
    const dv = mirror.dv[segmentOf(lsn)]!;
    const off = segmentOffset(lsn);
    const len = fields(lsn);
    if (len < 0) throw bad(lsn);
    if (crypt.batch && isOpener(dv, off)) {
      const members = checkUnit(view, lsn, to, fields);
      if (typeof members === 'number' || !crypt.batch.openUnit(view, lsn, members)) throw bad(lsn);
      lsn = members.length > 0 ? members.at(-1)! + frameSizeAt(view, members.at(-1)!) : lsn + len;
      continue;
    }
    const flags = recordFlags(dv, off);
    const sealed = (flags & RECORD_FLAG_ENCRYPTED) !== 0;
    if ((flags & RECORD_FLAG_BATCH_SEALED) !== 0 || (crypt.batch && sealed) || sealed !== mustBeSealed(dv, off) || (sealed && !crypt.records.openInPlace(mirror.u8[segmentOf(lsn)]!, dv, off, lsn))) {
      throw bad(lsn);
    }
    lsn += len;
  }
}

/**
 * The file form of the mirror-form unit at `lsn` of `mirror`, sealed again at
 * the same LSN under `crypt`'s file subkey and generation (a backup: its own
 * file id, so its own key). Returns it; its length is the unit's.
 */
export function resealUnit(mirror: MirrorView, crypt: LogCrypt, lsn: number): Uint8Array {
  const view = segmentedMirror(mirror);
  const parts = [bytesAt(view, lsn)];
  const opener = new DataView(parts[0]!.buffer, parts[0]!.byteOffset, parts[0]!.byteLength);
  // Member count (opener value word 2), already authenticated when the unit entered the mirror.
  const count = opener.getUint32(32 + 8, true);
  let at = lsn + parts[0]!.length;
  for (let i = 0; i < count; i++) {
    const b = bytesAt(view, at);
    parts.push(b);
    at += b.length;
  }
  const form = new Uint8Array(Buffer.concat(parts));
  const file = form.slice();
  crypt.batch!.sealUnit({ u8: [form], dv: [new DataView(form.buffer)], span: Number.MAX_SAFE_INTEGER }, 0, lsn, file, new DataView(file.buffer));
  return file;
}
