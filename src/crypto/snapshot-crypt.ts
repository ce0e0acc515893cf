/**
 * Sealing of the index snapshot of an encrypted database (docs/FORMAT.md,
 * "Encryption"): its body holds the index table (hash tags that would confirm
 * guessed keys) and the namespace names, so it is encrypted and authenticated.
 * Each snapshot gets its own key, HKDF(file's snapshot subkey, 16-byte random
 * salt in the snapshot header), and so seals exactly one message: the nonce
 * can be a constant without ever repeating under a key.
 */
import { nodeCrypto, randomBytes } from './node-crypto.js';
import { aeadFor, KEY_SIZE, NONCE_SIZE, openPartsInPlace, TAG_SIZE } from './aead.js';
import type { FileKeys } from './keys.js';

export const SNAPSHOT_SALT_SIZE = 16;
const ZERO_NONCE = new Uint8Array(NONCE_SIZE);

export interface SnapshotSealer {
  seal(aad: Uint8Array, body: Uint8Array): { salt: Uint8Array; sealed: Uint8Array };
  /**
   * The body, decrypted in place in `sealed` (a view of it: no second buffer
   * of the body's size); undefined when it does not authenticate (another
   * key, tampering): the snapshot is then ignored, `sealed` with it.
   */
  open(salt: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | undefined;
  /** The body held in `parts` (in order; the tag follows them in the file), each decrypted in place; false when it does not authenticate. */
  openParts(salt: Uint8Array, aad: Uint8Array, parts: readonly Uint8Array[], tag: Uint8Array): boolean;
}

export function snapshotSealer(keys: FileKeys): SnapshotSealer {
  const aead = aeadFor(keys.cipher);
  const keyFor = (salt: Uint8Array): Uint8Array => new Uint8Array(nodeCrypto().hkdfSync('sha256', keys.snapshot, salt, 'emdb-js v3 snapshot', KEY_SIZE));
  return {
    seal(aad, body) {
      const salt = randomBytes(SNAPSHOT_SALT_SIZE);
      const sealed = new Uint8Array(body.length + TAG_SIZE);
      sealed.set(aead.seal(keyFor(salt), ZERO_NONCE, aad, body, sealed.subarray(0, body.length)), body.length);
      return { salt, sealed };
    },
    open(salt, aad, sealed) {
      if (sealed.length < TAG_SIZE) return undefined;
      const body = sealed.subarray(0, sealed.length - TAG_SIZE);
      return aead.open(keyFor(salt), ZERO_NONCE, aad, body, sealed.subarray(body.length), body) ? body : undefined;
    },
    openParts(salt, aad, parts, tag) {
      return openPartsInPlace(keys.cipher, keyFor(salt), ZERO_NONCE, aad, parts, tag);
    },
  };
}
