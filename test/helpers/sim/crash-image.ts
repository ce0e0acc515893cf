/**
 * What one file holds after a power loss, given its durable contents and the
 * writes/truncates issued since its last fdatasync. Each mode is a different
 * story of how much of the page cache reached the platter.
 *
 * Assumption shared by every mode (SQLite calls it "powersafe overwrite"): a
 * crash damages only bytes that an unsynced write touched; bytes that were
 * durable and not rewritten since keep their value, even when they share a
 * 4 KiB sector with an unsynced write.
 */
import { applyOp, Bytes, type FileOp } from './bytes.js';

export const SECTOR = 4096;

export const CRASH_MODES = ['dropUnsynced', 'keepPrefix', 'keepSectors', 'tornSector', 'extendedGarbage', 'extendedZeros'] as const;
export type CrashMode = (typeof CRASH_MODES)[number];

export function crashContent(durable: Bytes, pending: readonly FileOp[], mode: CrashMode, r: () => number): Bytes {
  const out = durable.clone();
  if (pending.length === 0) return out;
  switch (mode) {
    case 'dropUnsynced':
      return out;
    case 'keepPrefix': {
      const keep = randInt(r, pending.length + 1);
      for (let i = 0; i < keep; i++) applyOp(out, pending[i]!);
      return out;
    }
    case 'tornSector':
      return tornPrefix(out, pending, r);
    case 'keepSectors':
      return sectorMix(out, pending, r);
    case 'extendedGarbage':
    case 'extendedZeros':
      return extendedTail(out, pending, mode === 'extendedGarbage' ? r : undefined);
  }
}

/** 0 .. n-1 */
export function randInt(r: () => number, n: number): number {
  return Math.floor(r() * n);
}

/**
 * A prefix of at least one op survives; the last one, when a write, reached the
 * disk except for its final sector, which holds new bytes up to a random cut and
 * old bytes after it (or old then new: a sector is written in 512-byte pieces in
 * no promised order).
 */
function tornPrefix(out: Bytes, pending: readonly FileOp[], r: () => number): Bytes {
  const keep = 1 + randInt(r, pending.length);
  for (let i = 0; i < keep - 1; i++) applyOp(out, pending[i]!);
  const last = pending[keep - 1]!;
  if (last.t !== 'write' || last.bytes.length === 0) {
    applyOp(out, last);
    return out;
  }
  const before = out.clone();
  applyOp(out, last);
  const end = last.pos + last.bytes.length;
  const tornStart = Math.max(last.pos, Math.floor((end - 1) / SECTOR) * SECTOR);
  const cut = tornStart + randInt(r, end - tornStart + 1);
  const [oldFrom, oldTo] = r() < 0.5 ? [cut, end] : [tornStart, cut];
  for (let p = oldFrom; p < oldTo; p++) out.buf[p] = before.at(p);
  return out;
}

/**
 * Every 4 KiB sector that the unsynced ops changed independently holds either
 * its old or its new contents; the length is the old or the new one.
 */
function sectorMix(out: Bytes, pending: readonly FileOp[], r: () => number): Bytes {
  const before = out.clone();
  const after = out.clone();
  for (const op of pending) applyOp(after, op);
  const len = r() < 0.5 ? after.len : before.len;
  out.truncate(len);
  for (let s = 0; s * SECTOR < len; s++) {
    const from = s * SECTOR;
    const to = Math.min(len, from + SECTOR);
    if (r() < 0.5) continue; // this sector kept its old contents
    for (let p = from; p < to; p++) out.buf[p] = after.at(p);
  }
  return out;
}

/**
 * The size change reached the disk, the data did not: the file has its new
 * length, its old bytes, and the part past the old end reads as zeros or as
 * garbage (blocks allocated but never written).
 */
function extendedTail(out: Bytes, pending: readonly FileOp[], garbage: (() => number) | undefined): Bytes {
  const after = out.clone();
  for (const op of pending) applyOp(after, op);
  const oldLen = out.len;
  out.truncate(after.len);
  for (let p = oldLen; p < after.len; p++) out.buf[p] = garbage ? randInt(garbage, 256) : 0;
  return out;
}
