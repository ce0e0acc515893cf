import { crc32 } from '@node-rs/crc32';
import {
  FILE_ID_SIZE,
  KNOWN_SNAPSHOT_SECTIONS,
  READABLE_SNAPSHOT_VERSIONS,
  SNAPSHOT,
  SNAPSHOT_HEADER_SIZE,
  SNAPSHOT_MAGIC,
  SNAPSHOT_VERSION,
} from './constants.js';
import { readU64, writeU64 } from './u64.js';

/**
 * Byte layout of the index snapshot sidecar `<path>.index` (docs/FORMAT.md,
 * "Index snapshot"): a checksummed header, then the body — the raw shared index
 * table, the namespace catalogue and the per-namespace live counts.
 */
export interface SnapshotHeader {
  /** Snapshot version: 1 (no encodings in the catalogue) or 2. */
  version: number;
  /** File id of the log generation it describes (prelude bytes 120..135). */
  fileId: Uint8Array;
  /** The snapshot is the state after applying exactly the log bytes [DATA_START, tail). */
  tail: number;
  /** CRC32 of the log bytes [DATA_START, tail). */
  prefixCrc: number;
  indexCapacity: number;
  indexLive: number;
  indexDeleted: number;
  liveBytes: number;
  deadBytes: number;
  nextNamespaceId: number;
  namespaces: number;
  counts: number;
  bodyBytes: number;
  bodyCrc: number;
  /** Bitmap of the optional sections after the body (SnapshotSection); 0 from a version 1 snapshot. */
  sections: number;
}

export interface Catalogue {
  /** Namespace id, name and value encoding code (0 = not recorded; always 0 from a version 1 snapshot). */
  namespaces: [id: number, name: string, encoding: number][];
  counts: [id: number, liveKeys: number][];
}

const NS_ENTRY_FIXED_V1 = 8;
/** Version 2: id u32, encoding u8, 3 reserved bytes, name length u32. */
const NS_ENTRY_FIXED = 12;
const COUNT_ENTRY = 12;

export function encodeSnapshotHeader(h: Omit<SnapshotHeader, 'version' | 'sections'> & { sections?: number }, sealSalt?: Uint8Array): Uint8Array {
  const buf = new Uint8Array(SNAPSHOT_HEADER_SIZE);
  const dv = new DataView(buf.buffer);
  buf.set(SNAPSHOT_MAGIC, SNAPSHOT.MAGIC);
  dv.setUint32(SNAPSHOT.VERSION, SNAPSHOT_VERSION, true);
  dv.setUint32(SNAPSHOT.HEADER_SIZE, SNAPSHOT_HEADER_SIZE, true);
  buf.set(h.fileId.subarray(0, FILE_ID_SIZE), SNAPSHOT.FILE_ID);
  writeU64(dv, SNAPSHOT.TAIL, h.tail);
  dv.setUint32(SNAPSHOT.PREFIX_CRC, h.prefixCrc >>> 0, true);
  dv.setUint32(SNAPSHOT.INDEX_CAPACITY, h.indexCapacity, true);
  writeU64(dv, SNAPSHOT.INDEX_LIVE, h.indexLive);
  writeU64(dv, SNAPSHOT.INDEX_DELETED, h.indexDeleted);
  writeU64(dv, SNAPSHOT.LIVE_BYTES, h.liveBytes);
  writeU64(dv, SNAPSHOT.DEAD_BYTES, h.deadBytes);
  dv.setUint32(SNAPSHOT.NEXT_NAMESPACE_ID, h.nextNamespaceId, true);
  dv.setUint32(SNAPSHOT.NAMESPACES, h.namespaces, true);
  dv.setUint32(SNAPSHOT.COUNTS, h.counts, true);
  writeU64(dv, SNAPSHOT.BODY_BYTES, h.bodyBytes);
  dv.setUint32(SNAPSHOT.BODY_CRC, h.bodyCrc >>> 0, true);
  dv.setUint32(SNAPSHOT.SECTIONS, (h.sections ?? 0) >>> 0, true);
  if (sealSalt) buf.set(sealSalt.subarray(0, SNAPSHOT.CRC - SNAPSHOT.SEAL_SALT), SNAPSHOT.SEAL_SALT);
  dv.setUint32(SNAPSHOT.CRC, crc32(buf.subarray(0, SNAPSHOT.CRC)), true);
  return buf;
}

/** The index snapshot's file, beside the log (FORMAT.md, "Files"). */
export function snapshotPath(dbFile: string): string {
  return `${dbFile}.index`;
}

/** Largest index table a snapshot may announce before anyone allocates it (2^30 slots = 16 GiB). */
const MAX_SNAPSHOT_CAPACITY = 2 ** 30;

/** A capacity a snapshot header may announce: a power of two from 2 to MAX_SNAPSHOT_CAPACITY. */
export function snapshotCapacityPlausible(capacity: number): boolean {
  return capacity >= 2 && capacity <= MAX_SNAPSHOT_CAPACITY && (capacity & (capacity - 1)) === 0;
}

/** undefined unless the magic, version, size and header CRC all check out. */
export function decodeSnapshotHeader(buf: Uint8Array): SnapshotHeader | undefined {
  if (buf.length < SNAPSHOT_HEADER_SIZE) return undefined;
  for (let i = 0; i < SNAPSHOT_MAGIC.length; i++) if (buf[SNAPSHOT.MAGIC + i] !== SNAPSHOT_MAGIC[i]) return undefined;
  const dv = new DataView(buf.buffer, buf.byteOffset, SNAPSHOT_HEADER_SIZE);
  const version = dv.getUint32(SNAPSHOT.VERSION, true);
  if (!READABLE_SNAPSHOT_VERSIONS.includes(version)) return undefined;
  if (dv.getUint32(SNAPSHOT.HEADER_SIZE, true) !== SNAPSHOT_HEADER_SIZE) return undefined;
  if (dv.getUint32(SNAPSHOT.CRC, true) !== crc32(buf.subarray(0, SNAPSHOT.CRC))) return undefined;
  // A section this build does not know (a sorted index, expiry deadlines) makes the body unreadable here: replay instead.
  if (version >= 2 && (dv.getUint32(SNAPSHOT.SECTIONS, true) & ~KNOWN_SNAPSHOT_SECTIONS) !== 0) return undefined;
  return {
    version,
    fileId: buf.slice(SNAPSHOT.FILE_ID, SNAPSHOT.FILE_ID + FILE_ID_SIZE),
    tail: readU64(dv, SNAPSHOT.TAIL),
    prefixCrc: dv.getUint32(SNAPSHOT.PREFIX_CRC, true),
    indexCapacity: dv.getUint32(SNAPSHOT.INDEX_CAPACITY, true),
    indexLive: readU64(dv, SNAPSHOT.INDEX_LIVE),
    indexDeleted: readU64(dv, SNAPSHOT.INDEX_DELETED),
    liveBytes: readU64(dv, SNAPSHOT.LIVE_BYTES),
    deadBytes: readU64(dv, SNAPSHOT.DEAD_BYTES),
    nextNamespaceId: dv.getUint32(SNAPSHOT.NEXT_NAMESPACE_ID, true),
    namespaces: dv.getUint32(SNAPSHOT.NAMESPACES, true),
    counts: dv.getUint32(SNAPSHOT.COUNTS, true),
    bodyBytes: readU64(dv, SNAPSHOT.BODY_BYTES),
    bodyCrc: dv.getUint32(SNAPSHOT.BODY_CRC, true),
    sections: version >= 2 ? dv.getUint32(SNAPSHOT.SECTIONS, true) : 0,
  };
}

/** Namespaces as (id u32, encoding u8, 3 reserved, name length u32, UTF-8 name), then counts as (id u32, live keys u64). */
export function encodeCatalogue(c: Catalogue): Uint8Array {
  const names = c.namespaces.map(([id, name, encoding]) => [id, Buffer.from(name, 'utf8'), encoding] as const);
  const size = names.reduce((n, [, b]) => n + NS_ENTRY_FIXED + b.length, 0) + c.counts.length * COUNT_ENTRY;
  const buf = new Uint8Array(size);
  const dv = new DataView(buf.buffer);
  let at = 0;
  for (const [id, bytes, encoding] of names) {
    dv.setUint32(at, id, true);
    dv.setUint8(at + 4, encoding);
    dv.setUint32(at + 8, bytes.length, true);
    buf.set(bytes, at + NS_ENTRY_FIXED);
    at += NS_ENTRY_FIXED + bytes.length;
  }
  for (const [id, live] of c.counts) {
    dv.setUint32(at, id, true);
    writeU64(dv, at + 4, live);
    at += COUNT_ENTRY;
  }
  return buf;
}

/** undefined when the bytes do not hold exactly the announced entries. */
export function decodeCatalogue(buf: Uint8Array, namespaces: number, counts: number, version = SNAPSHOT_VERSION): Catalogue | undefined {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: Catalogue = { namespaces: [], counts: [] };
  const fixed = version >= 2 ? NS_ENTRY_FIXED : NS_ENTRY_FIXED_V1;
  let at = 0;
  for (let i = 0; i < namespaces; i++) {
    if (at + fixed > buf.length) return undefined;
    const len = dv.getUint32(at + fixed - 4, true);
    if (at + fixed + len > buf.length) return undefined;
    const encoding = version >= 2 ? dv.getUint8(at + 4) : 0;
    out.namespaces.push([dv.getUint32(at, true), Buffer.from(buf.buffer, buf.byteOffset + at + fixed, len).toString('utf8'), encoding]);
    at += fixed + len;
  }
  for (let i = 0; i < counts; i++) {
    if (at + COUNT_ENTRY > buf.length) return undefined;
    out.counts.push([dv.getUint32(at, true), readU64(dv, at + 4)]);
    at += COUNT_ENTRY;
  }
  return at === buf.length ? out : undefined;
}
