/**
 * Sealing of the index snapshot of an encrypted database (docs/FORMAT.md,
 * "Encryption"): its body holds the index table (hash tags that would confirm
 * guessed keys) and the namespace names, so it is encrypted and authenticated.
 * Each snapshot gets its own key, HKDF(file's snapshot subkey, 16-byte random
 * salt in the snapshot header), and so seals exactly one message: the nonce
 * can be a constant without ever repeating under a key.
 */
import { nodeCrypto, randomBytes } from './node-crypto.js';
import { KEY_SIZE, NONCE_SIZE, openPartsInPlace, sealStream, type SealStream } from './aead.js';
import type { FileKeys } from './keys.js';

export const SNAPSHOT_SALT_SIZE = 16;
const ZERO_NONCE = new Uint8Array(NONCE_SIZE);

export interface SnapshotSealer {
  /**
   * A new seal of one snapshot body (or sorted section) under a fresh salt:
   * the body's parts go in as they are, its ciphertext comes out a chunk at a
   * time, the tag last (aead.ts, sealStream), so no buffer of its size is made.
   */
  sealStream(aad: Uint8Array): SealStream & { salt: Uint8Array };
  /**
   * Authenticates the body held in `parts` (in order; `tag` followed them in
   * the file) and decrypts each in place: the index table where it will live.
   * False when it does not authenticate (another key, tampering): the
   * snapshot is then ignored, and the parts hold bytes nobody may use.
   */
  openParts(salt: Uint8Array, aad: Uint8Array, parts: readonly Uint8Array[], tag: Uint8Array): boolean;
}

export function snapshotSealer(keys: FileKeys): SnapshotSealer {
  const keyFor = (salt: Uint8Array): Uint8Array => new Uint8Array(nodeCrypto().hkdfSync('sha256', keys.snapshot, salt, 'emdb-js v3 snapshot', KEY_SIZE));
  return {
    sealStream(aad) {
      const salt = randomBytes(SNAPSHOT_SALT_SIZE);
      return Object.assign(sealStream(keys.cipher, keyFor(salt), ZERO_NONCE, aad), { salt });
    },
    openParts(salt, aad, parts, tag) {
      return openPartsInPlace(keys.cipher, keyFor(salt), ZERO_NONCE, aad, parts, tag);
    },
  };
}
