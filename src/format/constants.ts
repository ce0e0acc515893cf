/**
 * Every on-disk byte offset of format version 3 (see docs/FORMAT.md).
 * Offsets are derived from sizes so that the tables and the code cannot drift.
 */
import { fieldOffsets } from './field-offsets.js';

export const FORMAT_VERSION = 3;
/** Versions this build opens. Version 1 has no prefix CRC in its header slots. */
export const READABLE_FORMAT_VERSIONS: readonly number[] = [1, 2, 3];
/** First version whose header slots carry the prefix CRC. */
export const PREFIX_CRC_SINCE_VERSION = 2;
/**
 * First version with the value encoding in the prelude and NS_CREATE, and the
 * DURABLE_MARK and PREFIX_DELETE record kinds.
 */
export const V3 = 3;
export const PAGE_SIZE = 4096;

// ---- prelude (page 0) ----
export const FILE_MAGIC = Uint8Array.from([0x45, 0x4d, 0x44, 0x42, 0x4a, 0x53, 0x0d, 0x0a]); // "EMDBJS\r\n"
export const KDF_SALT_SIZE = 16;
export const KEY_CHECK_NONCE_SIZE = 12;
/** AEAD of 32 known bytes plus its 16-byte tag. */
export const KEY_CHECK_BLOCK_SIZE = 48;
export const FILE_ID_SIZE = 16;
export const SUBKEY_SALT_SIZE = 32;
/** Field sizes in file order; each offset is the sum of the sizes before it (FORMAT.md, "Prelude"). */
const prelude = fieldOffsets({
  MAGIC: FILE_MAGIC.length, VERSION: 4, FLAGS: 4, DATA_START: 4,
  CIPHER_ID: 1, KDF_ID: 1, KDF_RESERVED: 2,
  KDF_SALT: KDF_SALT_SIZE, KDF_PARAM1: 4, KDF_PARAM2: 4, KDF_PARAM3: 4,
  KEY_CHECK_NONCE: KEY_CHECK_NONCE_SIZE, KEY_CHECK_BLOCK: KEY_CHECK_BLOCK_SIZE,
  CREATED_AT: 8, FILE_ID: FILE_ID_SIZE,
  /** Version 3: the database's value encoding (ENCODING_ID); 0 = not recorded. */
  VALUE_ENCODING: 1,
  /** Version 3, reserved for encryption: record protection scheme, 0. */
  RECORD_SCHEME: 1, SCHEME_RESERVED: 2,
  /** Version 3, reserved for encryption: parameter flags, 0. */
  ENCRYPTION_FLAGS: 4,
  /** Version 3, reserved for encryption: HKDF salt of per-file / per-generation subkeys, 0. */
  SUBKEY_SALT: SUBKEY_SALT_SIZE,
  RESERVED_TAIL: 76, CRC: 4,
});
export const PRELUDE = prelude.offsets;
/** The prelude's CRC covers every byte before it. */
export const PRELUDE_CRC_END = PRELUDE.CRC;
export const PRELUDE_SIZE = prelude.end;
export const PRELUDE_FLAG_ENCRYPTED = 1;
/** KDF ids (prelude byte 21); 2 is defined from version 3. */
export const KdfId = { RAW_KEY: 0, SCRYPT: 1, ARGON2ID: 2 } as const;

// ---- header slots (pages 1 and 2) ----
export const SLOT_A_OFFSET = PAGE_SIZE;
export const SLOT_B_OFFSET = 2 * PAGE_SIZE;
export const SLOT_MAGIC = 0x544c5348;
export const SLOT_MAC_SIZE = 32;
export const SLOT = fieldOffsets({
  MAGIC: 4, MAGIC_RESERVED: 4,
  SEQUENCE: 8, TAIL_HINT: 8, CHECKPOINT_AT: 8, LIVE_KEYS: 8,
  /** Version 2: bit 0 = PREFIX_CRC holds the CRC32 of log bytes [DATA_START, tail hint). */
  FLAGS: 4, PREFIX_CRC: 4,
  /**
   * Version 3, encrypted files: the key generation of derived-nonce units and
   * records, written by builds before nonces were random; now written 0 and
   * never read (a unit or record carries what its nonce needs).
   */
  KEY_GENERATION: 4, GENERATION_RESERVED: 8, CRC: 4,
  /** Version 3, reserved for encryption: MAC of slot bytes [0, 64), outside the CRC. */
  MAC: SLOT_MAC_SIZE,
}).offsets;
/** The slot proper (what its CRC and its MAC protect) ends where the MAC area begins. */
export const SLOT_SIZE = SLOT.MAC;
export const SLOT_FLAG_PREFIX_CRC = 1;

/** First record LSN; everything before it is header pages. */
export const DATA_START = 3 * PAGE_SIZE;

// ---- index snapshot sidecar (`<path>.index`, docs/FORMAT.md) ----
export const SNAPSHOT_MAGIC = Uint8Array.from([0x45, 0x4d, 0x44, 0x42, 0x49, 0x44, 0x58, 0x0a]); // "EMDBIDX\n"
export const SNAPSHOT_VERSION = 2;
/** Snapshot versions this build reads (version 1 has no encodings in its namespace entries). */
export const READABLE_SNAPSHOT_VERSIONS: readonly number[] = [1, 2];
/**
 * Section bits of a version 2 snapshot. SORTED_INDEX: the sorted index follows
 * the body (format/sorted-snapshot.ts, written by an open with rangeScans).
 * EXPIRY: the writer's deadline heap follows (format/deadline-snapshot.ts).
 * PAGE_CRCS: the CRC of the log prefix at every log page boundary ends the body
 * (format/page-crcs.ts): a reopen loads the log's pages when they are first read
 * and checks each against it (docs/DESIGN.md, "Lazy log pages").
 * UNIT_DIRECTORY (encrypted logs read through the page cache): where the
 * sealed unit holding each log page's first byte starts ends the sealed body
 * (format/unit-directory-section.ts): an encrypted log then opens lazily too.
 * A snapshot with a bit this build does not know is ignored.
 */
export const SnapshotSection = { SORTED_INDEX: 1, EXPIRY: 2, PAGE_CRCS: 4, UNIT_DIRECTORY: 8 } as const;
export const KNOWN_SNAPSHOT_SECTIONS = SnapshotSection.SORTED_INDEX | SnapshotSection.EXPIRY | SnapshotSection.PAGE_CRCS | SnapshotSection.UNIT_DIRECTORY;
/** log2 of the log page a lazily opened log is loaded and checked by (64 KiB; recorded in the page CRC section). */
export const LOG_PAGE_SHIFT = 16;
export const LOG_PAGE_BYTES = 2 ** LOG_PAGE_SHIFT;
const snapshot = fieldOffsets({
  MAGIC: SNAPSHOT_MAGIC.length, VERSION: 4, HEADER_SIZE: 4, FILE_ID: FILE_ID_SIZE,
  TAIL: 8, PREFIX_CRC: 4, INDEX_CAPACITY: 4, INDEX_LIVE: 8, INDEX_DELETED: 8,
  LIVE_BYTES: 8, DEAD_BYTES: 8, NEXT_NAMESPACE_ID: 4, NAMESPACES: 4, COUNTS: 4,
  BODY_BYTES: 8, BODY_CRC: 4,
  /** Version 2: bitmap of the optional sections after the live counts. */
  SECTIONS: 4,
  /** Encrypted databases: the 16-byte salt of this snapshot's key (reserved, 0, otherwise). */
  SEAL_SALT: 16,
  CRC: 4,
});
export const SNAPSHOT = snapshot.offsets;
export const SNAPSHOT_HEADER_SIZE = snapshot.end;

// ---- records ----
export const RECORD_MAGIC = 0x52444d45;
const record = fieldOffsets({
  MAGIC: 4, CRC: 4, KIND: 1, FLAGS: 1, RESERVED: 2,
  NAMESPACE: 4, KEY_LEN: 4, VALUE_LEN: 4, EXPIRES_AT: 8,
});
export const RECORD = record.offsets;
/** The CRC covers [CRC_START, record end): all header fields after the CRC and the payload. */
export const RECORD_CRC_START = RECORD.KIND;
export const RECORD_HEADER_SIZE = record.end;

export const RecordKind = {
  PUT: 1,
  TOMBSTONE: 2,
  TX_BEGIN: 3,
  TX_COMMIT: 4,
  NS_CREATE: 5,
  NS_DROP: 6,
  CLEAR: 7,
  /** Version 3: value = the durable LSN when it was written (FORMAT.md, "Durable marks"). */
  DURABLE_MARK: 8,
  /** Version 3: removes every key of the namespace starting with the record's key. */
  PREFIX_DELETE: 9,
} as const;
export type RecordKindValue = (typeof RecordKind)[keyof typeof RecordKind];
/** Highest kind of versions 1 and 2 files; version 3 adds DURABLE_MARK and PREFIX_DELETE. */
export const MAX_RECORD_KIND_V2 = RecordKind.CLEAR;
export const MAX_RECORD_KIND = RecordKind.PREFIX_DELETE;

export const RECORD_FLAG_ENCRYPTED = 1;
export const RECORD_FLAG_IN_TX = 2;
/**
 * Version 3, record scheme 2 (prelude byte 137): the record belongs to a sealed
 * unit. With bit 0 a member (payload expiresAt ‖ key ‖ value, sealed by its
 * unit), alone the unit's SEAL opener (FORMAT.md, "Sealed units").
 */
export const RECORD_FLAG_BATCH_SEALED = 4;
export const RECORD_KNOWN_FLAGS = RECORD_FLAG_ENCRYPTED | RECORD_FLAG_IN_TX | RECORD_FLAG_BATCH_SEALED;
/** AEAD framing inside an encrypted record's payload and a SEAL opener's value. */
export const AEAD_NONCE_SIZE = 12;
export const AEAD_TAG_SIZE = 16;

/** Record scheme 2 only: the opener of a sealed unit (not a RecordKind: no other file holds it). */
export const SEAL_KIND = 10;
/**
 * The SEAL opener of every unit written now (offsets from the record start):
 * the unit's random nonce, region bytes, record count, region CRC, tag. The
 * nonce is stored because nothing about a file's position can make it unique
 * across copies of the file (FORMAT.md, "Nonces").
 */
const seal = fieldOffsets({ NONCE: AEAD_NONCE_SIZE, REGION_BYTES: 4, RECORD_COUNT: 4, REGION_CRC: 4, TAG: AEAD_TAG_SIZE }, RECORD_HEADER_SIZE);
export const SEAL = seal.offsets;
export const SEAL_RECORD_SIZE = seal.end;
export const SEAL_VALUE_SIZE = SEAL_RECORD_SIZE - RECORD_HEADER_SIZE;
/**
 * The opener written before the nonce was stored (read, never written): the
 * key generation in place of the nonce, which was generation u32 ‖ LSN u64.
 * Readers tell the two apart by the opener's value length.
 */
const sealDerived = fieldOffsets({ GENERATION: 4, REGION_BYTES: 4, RECORD_COUNT: 4, REGION_CRC: 4, TAG: AEAD_TAG_SIZE }, RECORD_HEADER_SIZE);
export const SEAL_DERIVED = sealDerived.offsets;
export const SEAL_DERIVED_RECORD_SIZE = sealDerived.end;
export const SEAL_DERIVED_VALUE_SIZE = SEAL_DERIVED_RECORD_SIZE - RECORD_HEADER_SIZE;
/** Version 3: an encrypted payload starts with the nonce, then the ciphertext of expiresAt(8) ‖ key ‖ value. */
export const AEAD_EXPIRY_SIZE = 8;
/** Bytes an encrypted record adds to its plaintext form: nonce, sealed expiry, tag. */
export const AEAD_OVERHEAD = AEAD_NONCE_SIZE + AEAD_EXPIRY_SIZE + AEAD_TAG_SIZE;

export const TX_BEGIN_VALUE_SIZE = 16;
export const TX_COMMIT_VALUE_SIZE = 8;
export const DURABLE_MARK_VALUE_SIZE = 8;
/** Version 3 NS_CREATE value: encoding u8 + 3 reserved bytes. */
export const NS_CREATE_VALUE_SIZE = 4;
export const DURABLE_MARK_SIZE = RECORD_HEADER_SIZE + DURABLE_MARK_VALUE_SIZE;

/** Value encoding codes (prelude byte 136, NS_CREATE value byte 0). */
export const ENCODING_ID = { binary: 1, utf8: 2, json: 3, msgpack: 4 } as const;
export const ENCODING_NOT_RECORDED = 0;

// ---- limits ----
export const MAX_KEY_BYTES = 16 * 1024;
export const MAX_VALUE_BYTES = 64 * 1024 * 1024;
export const MAX_RECORD_BYTES =
  RECORD_HEADER_SIZE + AEAD_OVERHEAD + MAX_KEY_BYTES + MAX_VALUE_BYTES;
