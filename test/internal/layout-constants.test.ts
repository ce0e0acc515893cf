/**
 * Every exported offset, size and code of the byte-layout modules, pinned to
 * the number it had when the tables were written by hand (format version 3,
 * snapshot version 2). The on-disk and shared-memory layouts are derived from
 * field sizes (format/field-offsets.ts); a change to a size or to the order of
 * fields moves every later offset, and this test names each one that moved.
 * Tables may gain fields (reserved ones), never move one; a new export must be
 * pinned here.
 */
import { describe, expect, it } from 'vitest';
import * as constants from '../../dist/src/format/constants.js';
import * as sortedEntry from '../../dist/src/format/sorted-entry.js';
import * as sortedSnapshot from '../../dist/src/format/sorted-snapshot.js';
import * as layout from '../../dist/src/shm/layout.js';

type Pin = number | readonly number[] | Readonly<Record<string, number>>;

const constantsPins = {
  AEAD_EXPIRY_SIZE: 8,
  AEAD_NONCE_SIZE: 12,
  AEAD_OVERHEAD: 36,
  AEAD_TAG_SIZE: 16,
  DATA_START: 12288,
  DURABLE_MARK_SIZE: 40,
  DURABLE_MARK_VALUE_SIZE: 8,
  ENCODING_ID: { binary: 1, utf8: 2, json: 3, msgpack: 4 },
  ENCODING_NOT_RECORDED: 0,
  FILE_ID_SIZE: 16,
  FILE_MAGIC: [69, 77, 68, 66, 74, 83, 13, 10],
  FORMAT_VERSION: 3,
  KDF_SALT_SIZE: 16,
  KEY_CHECK_BLOCK_SIZE: 48,
  KEY_CHECK_NONCE_SIZE: 12,
  KNOWN_SNAPSHOT_SECTIONS: 15,
  LOG_PAGE_SHIFT: 16,
  LOG_PAGE_BYTES: 65536,
  KdfId: { RAW_KEY: 0, SCRYPT: 1, ARGON2ID: 2 },
  MAX_KEY_BYTES: 16384,
  MAX_RECORD_BYTES: 67125316,
  MAX_RECORD_KIND: 9,
  MAX_RECORD_KIND_V2: 7,
  MAX_VALUE_BYTES: 67108864,
  NS_CREATE_VALUE_SIZE: 4,
  PAGE_SIZE: 4096,
  PREFIX_CRC_SINCE_VERSION: 2,
  PRELUDE: { MAGIC: 0, VERSION: 8, FLAGS: 12, DATA_START: 16, CIPHER_ID: 20, KDF_ID: 21, KDF_SALT: 24, KDF_PARAM1: 40, KDF_PARAM2: 44, KDF_PARAM3: 48, KEY_CHECK_NONCE: 52, KEY_CHECK_BLOCK: 64, CREATED_AT: 112, FILE_ID: 120, VALUE_ENCODING: 136, RECORD_SCHEME: 137, ENCRYPTION_FLAGS: 140, SUBKEY_SALT: 144, RESERVED_TAIL: 176, CRC: 252 },
  PRELUDE_CRC_END: 252,
  PRELUDE_FLAG_ENCRYPTED: 1,
  PRELUDE_SIZE: 256,
  READABLE_FORMAT_VERSIONS: [1, 2, 3],
  READABLE_SNAPSHOT_VERSIONS: [1, 2],
  RECORD: { MAGIC: 0, CRC: 4, KIND: 8, FLAGS: 9, RESERVED: 10, NAMESPACE: 12, KEY_LEN: 16, VALUE_LEN: 20, EXPIRES_AT: 24 },
  RECORD_CRC_START: 8,
  RECORD_FLAG_BATCH_SEALED: 4,
  RECORD_FLAG_ENCRYPTED: 1,
  RECORD_FLAG_IN_TX: 2,
  RECORD_HEADER_SIZE: 32,
  /** Bit 2 (batch-sealed) was reserved by format 3 and became known with sealed units (record scheme 2). */
  RECORD_KNOWN_FLAGS: 7,
  SEAL_KIND: 10,
  /** The opener stores its unit's random nonce (format 3 unreleased: it replaced the derived-nonce opener, still read). */
  SEAL: { NONCE: 32, REGION_BYTES: 44, RECORD_COUNT: 48, REGION_CRC: 52, TAG: 56 },
  SEAL_VALUE_SIZE: 40,
  SEAL_RECORD_SIZE: 72,
  SEAL_DERIVED: { GENERATION: 32, REGION_BYTES: 36, RECORD_COUNT: 40, REGION_CRC: 44, TAG: 48 },
  SEAL_DERIVED_VALUE_SIZE: 32,
  SEAL_DERIVED_RECORD_SIZE: 64,
  RECORD_MAGIC: 1380207941,
  RecordKind: { PUT: 1, TOMBSTONE: 2, TX_BEGIN: 3, TX_COMMIT: 4, NS_CREATE: 5, NS_DROP: 6, CLEAR: 7, DURABLE_MARK: 8, PREFIX_DELETE: 9 },
  SLOT: { MAGIC: 0, SEQUENCE: 8, TAIL_HINT: 16, CHECKPOINT_AT: 24, LIVE_KEYS: 32, FLAGS: 40, PREFIX_CRC: 44, KEY_GENERATION: 48, CRC: 60, MAC: 64 },
  SLOT_A_OFFSET: 4096,
  SLOT_B_OFFSET: 8192,
  SLOT_FLAG_PREFIX_CRC: 1,
  SLOT_MAC_SIZE: 32,
  SLOT_MAGIC: 1414288200,
  SLOT_SIZE: 64,
  SNAPSHOT: { MAGIC: 0, VERSION: 8, HEADER_SIZE: 12, FILE_ID: 16, TAIL: 32, PREFIX_CRC: 40, INDEX_CAPACITY: 44, INDEX_LIVE: 48, INDEX_DELETED: 56, LIVE_BYTES: 64, DEAD_BYTES: 72, NEXT_NAMESPACE_ID: 80, NAMESPACES: 84, COUNTS: 88, BODY_BYTES: 92, BODY_CRC: 100, SECTIONS: 104, SEAL_SALT: 108, CRC: 124 },
  SNAPSHOT_HEADER_SIZE: 128,
  SNAPSHOT_MAGIC: [69, 77, 68, 66, 73, 68, 88, 10],
  SNAPSHOT_VERSION: 2,
  SUBKEY_SALT_SIZE: 32,
  SnapshotSection: { SORTED_INDEX: 1, EXPIRY: 2, PAGE_CRCS: 4, UNIT_DIRECTORY: 8 },
  TX_BEGIN_VALUE_SIZE: 16,
  TX_COMMIT_VALUE_SIZE: 8,
  V3: 3,
} satisfies Record<string, Pin>;

const sortedEntryPins = {
  SORTED_ENTRY_HEADER_BYTES: 16,
  SORTED_RUN_HEADER_BYTES: 16,
  SORTED_TOMBSTONE_HI: 4294967295,
  SortedEntry: { NS: 0, KEY_LEN: 4, LSN_LO: 8, LSN_HI: 12 },
  SortedRunHeader: { COUNT: 0, ID: 1 },
} satisfies Record<string, Pin>;

const sortedSnapshotPins = {
  SORTED_SECTION: { MAGIC: 0, VERSION: 8, HEADER_SIZE: 12, TAIL: 16, PREFIX_CRC: 24, RUN_BYTES: 28, RUN_CRC: 36, CRC: 44 },
  SORTED_SECTION_HEADER_SIZE: 48,
  SORTED_SECTION_MAGIC: [69, 77, 68, 66, 83, 82, 84, 10],
  SORTED_SECTION_VERSION: 1,
} satisfies Record<string, Pin>;

const layoutPins = {
  BUILD_LOAD: 0.5,
  CONTROL_BYTES: 48,
  CTL64_SLOTS: 3,
  Ctl32: { GENERATION: 6, STATE: 7, READERS: 8, BATCH_SEQ: 9, READ_HOLDS: 10, HOLD_UNTIL: 11 },
  Ctl64: { NEXT_LSN: 0, READS: 1, CLOCK_OFFSET: 2 },
  DbState: { OPENING: 0, OPEN: 1, FAILED: 2, CLOSED: 3 },
  INDEX_HEADER_BYTES: 64,
  IndexHeader: { CAPACITY: 0, MASK: 1 },
  MAX_LOAD: 0.75,
  MIN_INDEX_CAPACITY: 1024,
  READS_PUBLISH_EVERY: 4096,
  SEGMENT_SPAN: 1073741824,
  SLOT_BASE_WORDS: 16,
  SLOT_BYTES: 16,
  SLOT_WORDS: 4,
  SORTED_ENTRY_HEADER_BYTES: 16,
  SORTED_MAX_RUNS: 12,
  SORTED_MERGE_RATIO: 2,
  SORTED_RUN_HEADER_BYTES: 16,
  SORTED_TAIL_HARD_FACTOR: 32,
  SORTED_TAIL_HEADER_BYTES: 16,
  SORTED_TAIL_MAX_BYTES: 1073741824,
  LazyWord: { FD: 0, IN_FLIGHT: 1, LEFT: 2, RESERVED: 3 },
  LAZY_STATE_BASE: 4,
  PageState: { ABSENT: 0, RESIDENT: 1 },
  FramePoolWord: { FRAMES: 0, RESERVED: 1 },
  FrameWord: { VERSION: 0, OWNER: 1, PAGE: 2, REF: 3 },
  FRAME_WORDS: 4,
  FRAME_META_BASE: 4,
  FRAME_FREE: 0,
  FRAME_CHUNK_SHIFT: 14,
  GenerationFileWord: { FD: 0, IN_FLIGHT: 1, PINS: 2, RESERVED: 3 },
  GENERATION_FILE_WORDS: 4,
  WantedWord: { HEAD: 0, RESERVED: 1 },
  UnitDirectoryWord: { END: 0, FIRST_PAGE: 1 },
  WANTED_BASE: 4,
  WANTED_SLOTS: 256,
  SORTED_TAIL_MAX_ENTRIES: 2048,
  SORTED_TOMBSTONE_HI: 4294967295,
  SlotWord: { SEQ: 0, TAG: 1, LSN_LO: 2, LSN_HI: 3 },
  SortedEntry: { NS: 0, KEY_LEN: 4, LSN_LO: 8, LSN_HI: 12 },
  SortedRunHeader: { COUNT: 0, ID: 1 },
  SortedTailHeader: { COUNT: 0, ID: 1 },
  TAG_DELETED: 1,
  TAG_EMPTY: 0,
} satisfies Record<string, Pin>;


function plain(v: unknown): unknown {
  return v instanceof Uint8Array || Array.isArray(v) ? Array.from(v as ArrayLike<number>) : v;
}

const modules: [string, Record<string, unknown>, Record<string, Pin>][] = [
  ['format/constants', constants, constantsPins],
  ['format/sorted-entry', sortedEntry, sortedEntryPins],
  ['format/sorted-snapshot', sortedSnapshot, sortedSnapshotPins],
  ['shm/layout', layout, layoutPins],
];

describe('layout constants keep their numbers', () => {
  for (const [name, mod, pins] of modules) {
    it(`${name}: every pinned value is unchanged`, () => {
      for (const [key, pin] of Object.entries(pins)) {
        const actual = plain(mod[key]);
        if (typeof pin === 'object' && !Array.isArray(pin)) {
          // A table may gain fields; none of the pinned ones may move.
          expect(actual, key).toBeTypeOf('object');
          for (const [field, value] of Object.entries(pin)) expect((actual as Record<string, unknown>)[field], `${key}.${field}`).toBe(value);
        } else {
          expect(actual, key).toEqual(pin);
        }
      }
    });

    it(`${name}: every exported constant is pinned`, () => {
      const exported = Object.keys(mod).filter((k) => typeof mod[k] !== 'function');
      expect(exported.filter((k) => !(k in pins))).toEqual([]);
    });
  }
});
