/**
 * The two AEAD ciphers of the API (AES-256-GCM, ChaCha20-Poly1305). Both are
 * available from @noble/ciphers (the reference implementation we test against)
 * and from node:crypto (OpenSSL), which the hot paths use because it is several
 * times faster (docs/BENCH.md, "Encryption"); test/internal/crypto-backends
 * proves the two produce byte-identical output. The @noble backend lives in
 * noble-aead.ts, so no thread pays for loading it at start-up (it is the
 * reference for tests and the encryption bench, never used by the database).
 */
import type { CipherGCMTypes } from 'node:crypto';
import { nodeCrypto } from './node-crypto.js';

export type CipherName = 'aes-256-gcm' | 'chacha20-poly1305';
export const CIPHER_NAMES: readonly CipherName[] = ['aes-256-gcm', 'chacha20-poly1305'];
/** Prelude byte 20. */
export const CIPHER_ID: Record<CipherName, number> = { 'aes-256-gcm': 1, 'chacha20-poly1305': 2 };
export const KEY_SIZE = 32;
export const NONCE_SIZE = 12;
export const TAG_SIZE = 16;

/**
 * `count` fresh random 96-bit nonces, back to back: one randomFillSync (the
 * OS-seeded CSPRNG) for a whole batch, since its fixed cost per call is what
 * a nonce costs (docs/DESIGN.md, "Encryption at rest"). Nothing is kept
 * between calls, so no drawn nonce can be handed out twice.
 */
export function randomNonces(count: number): Uint8Array {
  return nodeCrypto().randomFillSync(new Uint8Array(count * NONCE_SIZE));
}

export function cipherById(id: number): CipherName | undefined {
  return CIPHER_NAMES.find((c) => CIPHER_ID[c] === id);
}

export interface Aead {
  /** Encrypts `plain` into `out` (same length) and returns the 16-byte tag. */
  seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plain: Uint8Array, out: Uint8Array): Uint8Array;
  /** Decrypts `ct` into `out` (same length, may be `ct`); false when the tag does not authenticate (then `out` may hold bytes nobody may use). */
  open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ct: Uint8Array, tag: Uint8Array, out: Uint8Array): boolean;
}

function nodeAlgo(cipher: CipherName): CipherGCMTypes | 'chacha20-poly1305' {
  return cipher === 'aes-256-gcm' ? 'aes-256-gcm' : 'chacha20-poly1305';
}

/**
 * Inputs up to this size go through node:crypto as latin1 strings (one byte
 * per character, lossless) instead of Buffers: a Buffer that update()
 * returns is malloc'd outside the JavaScript heap and freed only by a later
 * GC, which V8 runs after tens of MiB of them; a thread that seals or opens a
 * 64 KiB unit per append or cache miss held ~40 MiB more resident that way
 * (docs/DESIGN.md, "Encrypted logs in the cache"). The string's native buffer
 * is freed at once, and the string itself dies young on the heap.
 */
const STRING_PATH_MAX = 16 << 20;

/** Writes the latin1 string `s` (bytes as characters) into `out` at 0. */
function writeLatin1(out: Uint8Array, s: string): void {
  Buffer.from(out.buffer, out.byteOffset, out.byteLength).write(s, 0, s.length, 'latin1');
}

/**
 * Larger inputs go through node:crypto a chunk at a time (an index snapshot's
 * body is tens of MiB). 64 KiB strings stay in V8's young generation; 1 MiB
 * ones each take a large-object page: the 32 MiB body of 1,000,000 keys
 * opened in 18–26 ms and 173 MiB RSS against 40 ms and 234 MiB (measured
 * in fresh processes, docs/DESIGN.md "Encrypted logs in the cache").
 */
const CHUNK = 64 << 10;

/**
 * Runs `src` through `c` a chunk at a time into `out` (same length; may be
 * `src`). GCM and ChaCha20-Poly1305 are stream modes: each chunk's output is
 * its own length, whatever the chunk boundaries, and final() adds no bytes.
 */
function updateChunked(c: { update(data: Uint8Array, inputEncoding: undefined, outputEncoding: 'latin1'): string }, src: Uint8Array, out: Uint8Array): void {
  for (let at = 0; at < src.length; at += CHUNK) writeLatin1(out.subarray(at), c.update(src.subarray(at, Math.min(src.length, at + CHUNK)), undefined, 'latin1'));
}

/** A decipher with its key, nonce, associated data and expected tag set. */
function decipher(algo: CipherGCMTypes | 'chacha20-poly1305', key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, tag: Uint8Array) {
  // The cast: node's typings split GCM and ChaCha20-Poly1305 overloads; both accept these options.
  const d = nodeCrypto().createDecipheriv(algo as CipherGCMTypes, key, nonce, { authTagLength: TAG_SIZE });
  d.setAAD(aad);
  d.setAuthTag(tag);
  return d;
}

/** Whether the decipher's tag authenticated everything it was given. */
function authenticated(d: { final(): unknown }): boolean {
  try {
    d.final();
    return true;
  } catch {
    return false;
  }
}

/**
 * Decrypts `ct` into `out` when `tag` authenticates it; `out` may be `ct`
 * itself. Up to STRING_PATH_MAX, `out` is written only once authenticated;
 * past it, a chunk at a time before the check, so on false `out` holds bytes
 * nobody may use (every caller then drops or overwrites them).
 */
function nodeOpenInto(algo: CipherGCMTypes | 'chacha20-poly1305', key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ct: Uint8Array, tag: Uint8Array, out: Uint8Array): boolean {
  const d = decipher(algo, key, nonce, aad, tag);
  if (ct.length > STRING_PATH_MAX) {
    updateChunked(d, ct, out);
    return authenticated(d);
  }
  const plain = d.update(ct, undefined, 'latin1');
  if (!authenticated(d)) return false;
  writeLatin1(out, plain);
  return true;
}

/**
 * Authenticates `parts` (one message, in order, the tag after the last) and
 * decrypts each in place, a chunk at a time: a message whose first part is
 * already where its plaintext must end up (an index snapshot's table, read
 * straight into the SharedArrayBuffer the index will live in) needs no copy.
 * False when it does not authenticate; the parts then hold bytes nobody may use.
 */
export function openPartsInPlace(cipher: CipherName, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, parts: readonly Uint8Array[], tag: Uint8Array): boolean {
  const d = decipher(nodeAlgo(cipher), key, nonce, aad, tag);
  for (const part of parts) updateChunked(d, part, part);
  return authenticated(d);
}

/** One message sealed as it is produced: its parts go in, in order; the ciphertext comes out a chunk at a time. */
export interface SealStream {
  /** Seals `plain` (the message's next bytes), handing each chunk of ciphertext to `emit` (a view valid until `emit` returns). */
  update(plain: Uint8Array, emit: (sealed: Uint8Array) => void): void;
  /** Ends the message: its 16-byte tag. */
  final(): Uint8Array;
}

/**
 * A seal that never holds the whole message: an index snapshot's body
 * (32 MiB for 1,000,000 keys) is sealed from the index's own shared buffer
 * and written out 64 KiB at a time, where joining it and sealing it whole
 * took two buffers of its size (~63 MiB more RSS after each snapshot).
 */
export function sealStream(cipher: CipherName, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array): SealStream {
  const c = nodeCrypto().createCipheriv(nodeAlgo(cipher) as CipherGCMTypes, key, nonce, { authTagLength: TAG_SIZE });
  c.setAAD(aad);
  const scratch = new Uint8Array(CHUNK);
  return {
    update(plain, emit) {
      for (let at = 0; at < plain.length; at += CHUNK) {
        const n = Math.min(CHUNK, plain.length - at);
        updateChunked(c, plain.subarray(at, at + n), scratch);
        emit(scratch.subarray(0, n));
      }
    },
    final() {
      c.final();
      return c.getAuthTag();
    },
  };
}

export function nodeAead(cipher: CipherName): Aead {
  const algo = nodeAlgo(cipher);
  return {
    seal(key, nonce, aad, plain, out) {
      const c = nodeCrypto().createCipheriv(algo as CipherGCMTypes, key, nonce, { authTagLength: TAG_SIZE });
      c.setAAD(aad);
      // A chunk at a time: no input-sized buffer for a snapshot's body.
      updateChunked(c, plain, out);
      c.final();
      return c.getAuthTag();
    },
    open(key, nonce, aad, ct, tag, out) {
      return nodeOpenInto(algo, key, nonce, aad, ct, tag, out);
    },
  };
}

const NODE: Record<CipherName, Aead> = { 'aes-256-gcm': nodeAead('aes-256-gcm'), 'chacha20-poly1305': nodeAead('chacha20-poly1305') };

/** The backend the database uses (node:crypto, measured faster for both ciphers and both record sizes). */
export function aeadFor(cipher: CipherName): Aead {
  return NODE[cipher];
}
