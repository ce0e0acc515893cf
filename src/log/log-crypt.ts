/**
 * The encryption state of one open log: the database keys, the subkeys of
 * the current file, the key generation records are sealed under, and the
 * header-slot MAC (docs/FORMAT.md, "Encryption").
 */
import { crc32 } from '@node-rs/crc32';
import { EmdbError, ErrorCode } from '../errors.js';
import { PAGE_SIZE, RECORD_FLAG_ENCRYPTED, SLOT, SLOT_A_OFFSET, SLOT_B_OFFSET, SLOT_MAC_SIZE, SLOT_SIZE } from '../format/constants.js';
import { decodeSlot, encodeSlot, type HeaderSlot } from '../format/header.js';
import { recordFlags } from '../format/record-fields.js';
import { PrefixCrc } from './prefix-crc.js';
import type { MirrorView } from '../shm/mirror.js';
import type { DbKeys } from '../crypto/keys.js';
import { mustBeSealed, RecordCrypt } from '../crypto/record-crypt.js';
import { snapshotSealer, type SnapshotSealer } from '../crypto/snapshot-crypt.js';
import { segmentOf, segmentOffset } from '../shm/layout.js';
import { frameSize } from '../format/record.js';
import type { MirrorWriter } from '../shm/mirror.js';

/** Bytes of a header slot write in an encrypted file: the slot and its MAC. */
export const SEALED_SLOT_SIZE = SLOT.MAC + SLOT_MAC_SIZE;

export class LogCrypt {
  readonly records: RecordCrypt;
  readonly snapshot: SnapshotSealer;
  /** False until this open's generation is durable in a header slot: nothing is sealed before that. */
  generationDurable = false;

  constructor(
    readonly keys: DbKeys,
    fileId: Uint8Array,
    generation: number,
  ) {
    this.records = new RecordCrypt(keys.forFile(fileId), generation);
    this.snapshot = snapshotSealer(this.records.keys);
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

/**
 * Recovery's view of the records it walks (log/recovery.ts): every record it
 * checks passes through `open` once, in LSN order, which decrypts it in place
 * (a record that fails authentication is corruption, wherever it is: its CRC
 * passed, so it is not a torn write) and folds its file bytes into the prefix
 * CRC the writer continues from.
 */
export class ReplayCrypt {
  /** Records below this LSN are already decrypted in the mirror. */
  plainTo: number;
  readonly prefix: FedPrefixCrc;

  constructor(
    private readonly records: RecordCrypt | undefined,
    prefix: { lsn: number; crc: number },
  ) {
    this.plainTo = 0;
    this.prefix = new FedPrefixCrc();
    this.prefix.reset(prefix.lsn, prefix.crc);
  }

  /** Returns false when the record's protection does not match the file's (a plaintext record in an encrypted file, or the reverse). */
  open(u8: Uint8Array, dv: DataView, off: number, lsn: number, len: number): boolean {
    const sealed = (recordFlags(dv, off) & RECORD_FLAG_ENCRYPTED) !== 0;
    const must = this.records !== undefined && mustBeSealed(dv, off);
    if (sealed !== must) return false;
    if (lsn === this.prefix.lsn) this.prefix.feed(u8.subarray(off, off + len));
    if (sealed && !this.records!.openInPlace(u8, dv, off, lsn)) {
      throw new EmdbError(ErrorCode.CORRUPTION, `corrupt log at offset ${lsn}: record fails authentication (tampered, moved, or sealed under another key)`, { offset: lsn });
    }
    this.plainTo = lsn + len;
    return true;
  }
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
export function decryptPrefix(mirror: MirrorWriter, records: RecordCrypt, from: number, to: number): void {
  for (let lsn = from; lsn < to; ) {
    const seg = segmentOf(lsn);
    const off = segmentOffset(lsn);
    const u8 = mirror.u8[seg]!;
    const dv = mirror.dv[seg]!;
    const len = frameSize(dv, off);
    const sealed = (recordFlags(dv, off) & RECORD_FLAG_ENCRYPTED) !== 0;
    // CRC32 is no defence against a deliberate edit: lengths are bounded here and every sealed record authenticated.
    if (lsn + len > to || off + len > u8.length || sealed !== mustBeSealed(dv, off) || (sealed && !records.openInPlace(u8, dv, off, lsn))) {
      throw new EmdbError(ErrorCode.CORRUPTION, `corrupt log at offset ${lsn}: record fails authentication`, { offset: lsn });
    }
    lsn += len;
  }
}
