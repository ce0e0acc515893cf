/**
 * The @noble/ciphers backend of the two AEAD ciphers: the reference
 * implementation test/internal/crypto-backends checks node:crypto against, and
 * a row of the encryption bench. Kept out of aead.ts so that loading the
 * database (every worker imports aead.ts) does not load @noble/ciphers.
 */
import { gcm } from '@noble/ciphers/aes.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import type { Aead, CipherName } from './aead.js';

export function nobleAead(cipher: CipherName): Aead {
  const make = cipher === 'aes-256-gcm' ? gcm : chacha20poly1305;
  return {
    seal(key, nonce, aad, plain, out) {
      const sealed = make(key, nonce, aad).encrypt(plain);
      out.set(sealed.subarray(0, plain.length));
      return sealed.slice(plain.length);
    },
    open(key, nonce, aad, ct, tag, out) {
      const joined = new Uint8Array(ct.length + tag.length);
      joined.set(ct);
      joined.set(tag, ct.length);
      try {
        out.set(make(key, nonce, aad).decrypt(joined));
        return true;
      } catch {
        return false;
      }
    },
  };
}
