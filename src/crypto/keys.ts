/**
 * Key material of an encrypted database (docs/FORMAT.md, "Encryption"):
 * the master key (a raw 32-byte key, or Argon2id of a passphrase with the salt
 * and parameters of the prelude), the key check value that refuses a wrong key
 * before any record is read, and the HKDF subkeys. Runs on the writer thread:
 * the Argon2id derivation takes hundreds of milliseconds and must never block
 * the opener's event loop.
 */
import { nodeCrypto, randomBytes } from './node-crypto.js';
import { argon2id } from '@noble/hashes/argon2.js';
import { EmdbError, ErrorCode } from '../errors.js';
import { KdfId, PRELUDE, PRELUDE_FLAG_ENCRYPTED, SLOT_MAC_SIZE, SUBKEY_SALT_SIZE, KDF_SALT_SIZE } from '../format/constants.js';
import { aeadFor, cipherById, CIPHER_ID, KEY_SIZE, NONCE_SIZE, TAG_SIZE, type CipherName } from './aead.js';

/** What the opener asked for (validated by options.ts). Never logged, never put in a message. */
export interface EncryptionSpec {
  key?: Uint8Array;
  passphrase?: string;
  cipher?: CipherName;
}

/** Argon2id defaults (OWASP's minimum): 19 MiB, 2 passes, 1 lane. What every new passphrase database records. */
export const ARGON2_DEFAULTS = { memoryKiB: 19 * 1024, iterations: 2, parallelism: 1 } as const;
/**
 * The Argon2id parameters a prelude may name, one range for creating and for
 * opening (both derive through `derivePassphrase`, which enforces it). The API
 * offers no choice (creation records ARGON2_DEFAULTS), so the floor is the
 * defaults and the headroom above them is for a later build with stronger
 * ones. The ceilings bound what a forged prelude (anyone who can write the
 * file) makes an open spend before the key check can refuse it: 64 MiB and
 * 4 passes, about 7 times the defaults' derivation (README, FORMAT.md
 * "Encryption"). Lanes do not add memory or work (@noble/hashes runs them
 * one after another over the same `memoryKiB`).
 */
export const ARGON2_LIMITS = {
  memoryKiB: { min: ARGON2_DEFAULTS.memoryKiB, max: 64 * 1024 },
  iterations: { min: ARGON2_DEFAULTS.iterations, max: 4 },
  parallelism: { min: ARGON2_DEFAULTS.parallelism, max: 4 },
} as const;
export type Argon2Params = { memoryKiB: number; iterations: number; parallelism: number };
/** Prelude byte 137: per-record AEAD, a nonce stored in each record (random; key generation ‖ LSN in older files), LSN in the associated data. */
export const RECORD_SCHEME_PER_RECORD = 1;
/** Prelude byte 137: sealed units, one AEAD per unit of an append batch (crypto/batch-crypt.ts); what new files use. */
export const RECORD_SCHEME_SEALED_UNITS = 2;
/** The scheme `DbKeys.create` writes; a test switches it to make a scheme 1 file (compatibility tests). */
let newFileScheme = RECORD_SCHEME_SEALED_UNITS;
export function setNewFileScheme(scheme: 1 | 2): void {
  newFileScheme = scheme;
}
const KEY_CHECK_PLAIN = new TextEncoder().encode('emdb-js key check, format 3.....');
const enc = new TextEncoder();

/** The keys of one encrypted database; `forFile` gives the subkeys of one log file (one file id). */
export class DbKeys {
  readonly checkKey: Uint8Array;
  readonly macKey: Uint8Array;
  /** Record scheme of the prelude (byte 137): 1 per-record AEAD, 2 sealed units. */
  scheme = RECORD_SCHEME_SEALED_UNITS;
  private constructor(
    private readonly master: Uint8Array,
    private readonly subkeySalt: Uint8Array,
    readonly cipher: CipherName,
  ) {
    this.checkKey = this.subkey('key check');
    this.macKey = this.subkey('slot mac');
  }

  private subkey(label: string, fileId?: Uint8Array): Uint8Array {
    const info = enc.encode(`emdb-js v3 ${label}`);
    const full = fileId ? Buffer.concat([info, fileId]) : info;
    return new Uint8Array(nodeCrypto().hkdfSync('sha256', this.master, this.subkeySalt, full, KEY_SIZE));
  }

  /** Subkeys of the log file `fileId`: a compaction or backup (a new file id) never shares a key with its source. */
  forFile(fileId: Uint8Array): FileKeys {
    return { cipher: this.cipher, records: this.subkey('records', fileId), snapshot: this.subkey('index snapshot', fileId), mac: this.macKey };
  }

  /** Keyed MAC of a header slot's bytes [0, 64): a forged tail hint fails it. */
  slotMac(slot: Uint8Array): Uint8Array {
    return new Uint8Array(nodeCrypto().createHmac('sha256', this.macKey).update(slot).digest()).subarray(0, SLOT_MAC_SIZE);
  }

  slotMacOk(slot: Uint8Array, mac: Uint8Array): boolean {
    return nodeCrypto().timingSafeEqual(this.slotMac(slot), mac);
  }

  /**
   * Derives the keys from the prelude of an encrypted file; refuses a wrong key
   * or passphrase (ERR_EMDB_ENCRYPTION_KEY_MISMATCH) by the key check block,
   * before any record is read.
   */
  static fromPrelude(prelude: Uint8Array, spec: EncryptionSpec): DbKeys {
    const dv = new DataView(prelude.buffer, prelude.byteOffset, prelude.byteLength);
    const cipher = cipherById(prelude[PRELUDE.CIPHER_ID]!);
    if (cipher === undefined) throw new EmdbError(ErrorCode.CORRUPTION, 'database header names an unknown cipher', { offset: PRELUDE.CIPHER_ID });
    const kdf = prelude[PRELUDE.KDF_ID]!;
    const salt = prelude.slice(PRELUDE.KDF_SALT, PRELUDE.KDF_SALT + KDF_SALT_SIZE);
    let master: Uint8Array;
    if (kdf === KdfId.RAW_KEY) {
      if (spec.key === undefined) throw mismatch('the database was created with a raw key; open it with encryption.key');
      master = spec.key;
    } else if (kdf === KdfId.ARGON2ID) {
      if (spec.passphrase === undefined) throw mismatch('the database was created with a passphrase; open it with encryption.passphrase');
      const params = {
        memoryKiB: dv.getUint32(PRELUDE.KDF_PARAM1, true),
        iterations: dv.getUint32(PRELUDE.KDF_PARAM2, true),
        parallelism: dv.getUint32(PRELUDE.KDF_PARAM3, true),
      };
      master = derivePassphrase(spec.passphrase, salt, params);
    } else {
      throw new EmdbError(ErrorCode.CORRUPTION, `database header names an unsupported key derivation (${kdf})`, { offset: PRELUDE.KDF_ID });
    }
    const keys = new DbKeys(master, prelude.slice(PRELUDE.SUBKEY_SALT, PRELUDE.SUBKEY_SALT + SUBKEY_SALT_SIZE), cipher);
    const nonce = prelude.subarray(PRELUDE.KEY_CHECK_NONCE, PRELUDE.KEY_CHECK_NONCE + NONCE_SIZE);
    const block = prelude.subarray(PRELUDE.KEY_CHECK_BLOCK, PRELUDE.KEY_CHECK_BLOCK + KEY_CHECK_PLAIN.length + TAG_SIZE);
    const out = new Uint8Array(KEY_CHECK_PLAIN.length);
    const ok = aeadFor(cipher).open(
      keys.checkKey,
      nonce,
      keyCheckAad(prelude),
      block.subarray(0, KEY_CHECK_PLAIN.length),
      block.subarray(KEY_CHECK_PLAIN.length),
      out,
    );
    if (!ok || !nodeCrypto().timingSafeEqual(out, KEY_CHECK_PLAIN)) throw mismatch('wrong encryption key or passphrase');
    // Checked after the key check, which authenticates byte 137: a damaged byte is corruption above, not this.
    const scheme = prelude[PRELUDE.RECORD_SCHEME]!;
    if (scheme !== RECORD_SCHEME_PER_RECORD && scheme !== RECORD_SCHEME_SEALED_UNITS) {
      throw new EmdbError(ErrorCode.UNSUPPORTED_VERSION, `the database uses record protection scheme ${scheme}, which this build does not know`);
    }
    keys.scheme = scheme;
    return keys;
  }

  /**
   * Fills the encryption fields of a new prelude (bytes 12..111 and 137..175;
   * the caller seals its CRC) and returns the keys. Fresh salts every time, so
   * two files never share subkeys even under one passphrase.
   */
  static create(prelude: Uint8Array, spec: EncryptionSpec): DbKeys {
    const dv = new DataView(prelude.buffer, prelude.byteOffset, prelude.byteLength);
    const cipher = spec.cipher ?? 'aes-256-gcm';
    dv.setUint32(PRELUDE.FLAGS, dv.getUint32(PRELUDE.FLAGS, true) | PRELUDE_FLAG_ENCRYPTED, true);
    prelude[PRELUDE.CIPHER_ID] = CIPHER_ID[cipher];
    const salt = randomBytes(KDF_SALT_SIZE);
    prelude.set(salt, PRELUDE.KDF_SALT);
    let master: Uint8Array;
    if (spec.passphrase !== undefined) {
      prelude[PRELUDE.KDF_ID] = KdfId.ARGON2ID;
      dv.setUint32(PRELUDE.KDF_PARAM1, ARGON2_DEFAULTS.memoryKiB, true);
      dv.setUint32(PRELUDE.KDF_PARAM2, ARGON2_DEFAULTS.iterations, true);
      dv.setUint32(PRELUDE.KDF_PARAM3, ARGON2_DEFAULTS.parallelism, true);
      master = derivePassphrase(spec.passphrase, salt, ARGON2_DEFAULTS);
    } else {
      prelude[PRELUDE.KDF_ID] = KdfId.RAW_KEY;
      master = spec.key!;
    }
    prelude[PRELUDE.RECORD_SCHEME] = newFileScheme;
    const subkeySalt = randomBytes(SUBKEY_SALT_SIZE);
    prelude.set(subkeySalt, PRELUDE.SUBKEY_SALT);
    const keys = new DbKeys(master, subkeySalt, cipher);
    keys.scheme = newFileScheme;
    // One encryption under the key check subkey per prelude: a random nonce is safe for a single use.
    const nonce = randomBytes(NONCE_SIZE);
    prelude.set(nonce, PRELUDE.KEY_CHECK_NONCE);
    const ct = new Uint8Array(KEY_CHECK_PLAIN.length);
    const tag = aeadFor(cipher).seal(keys.checkKey, nonce, keyCheckAad(prelude), KEY_CHECK_PLAIN, ct);
    prelude.set(ct, PRELUDE.KEY_CHECK_BLOCK);
    prelude.set(tag, PRELUDE.KEY_CHECK_BLOCK + ct.length);
    return keys;
  }
}

export interface FileKeys {
  cipher: CipherName;
  records: Uint8Array;
  snapshot: Uint8Array;
  mac: Uint8Array;
}

/**
 * The prelude fields the key check authenticates: everything before the CRC
 * but the key check itself and the file id (which a compaction or backup
 * changes; it is bound through the subkeys instead, so a forged one fails
 * every record).
 */
function keyCheckAad(prelude: Uint8Array): Uint8Array {
  return Buffer.concat([
    prelude.subarray(0, PRELUDE.KEY_CHECK_NONCE),
    prelude.subarray(PRELUDE.CREATED_AT, PRELUDE.FILE_ID),
    prelude.subarray(PRELUDE.VALUE_ENCODING, PRELUDE.CRC),
  ]);
}

/** Whether `p` is inside ARGON2_LIMITS. */
export function argon2ParamsAllowed(p: Argon2Params): boolean {
  return (Object.keys(ARGON2_LIMITS) as (keyof Argon2Params)[]).every((k) => Number.isInteger(p[k]) && p[k] >= ARGON2_LIMITS[k].min && p[k] <= ARGON2_LIMITS[k].max);
}

/**
 * Argon2id of the passphrase, refused outside ARGON2_LIMITS before anything is
 * allocated: only a prelude can be outside them (creation passes the
 * defaults), so that is corruption, never the KDF's own "maxmem" error (which
 * reached the caller as ERR_EMDB_IO) nor minutes of work.
 */
function derivePassphrase(passphrase: string, salt: Uint8Array, p: Argon2Params): Uint8Array {
  if (!argon2ParamsAllowed(p)) {
    const { memoryKiB: m, iterations: t, parallelism: l } = ARGON2_LIMITS;
    throw new EmdbError(
      ErrorCode.CORRUPTION,
      `database header has out-of-range Argon2id parameters (memory ${p.memoryKiB} KiB, ${p.iterations} iterations, parallelism ${p.parallelism}; accepted: memory ${m.min}..${m.max} KiB, iterations ${t.min}..${t.max}, parallelism ${l.min}..${l.max})`,
      { offset: PRELUDE.KDF_PARAM1 },
    );
  }
  return argon2id(enc.encode(passphrase.normalize('NFC')), salt, { m: p.memoryKiB, t: p.iterations, p: p.parallelism, dkLen: KEY_SIZE });
}

function mismatch(message: string): EmdbError {
  return new EmdbError(ErrorCode.ENCRYPTION_KEY_MISMATCH, message);
}
