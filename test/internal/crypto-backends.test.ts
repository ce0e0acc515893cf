/**
 * The database seals with node:crypto (faster, docs/BENCH.md) where the
 * design names @noble/ciphers: both must produce byte-identical ciphertext and
 * tags, and each must open what the other sealed and refuse a flipped bit.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nodeAead, openPartsInPlace, sealStream } from '../../dist/src/crypto/aead.js';
import { nobleAead } from '../../dist/src/crypto/noble-aead.js';

describe('AEAD backends', () => {
  for (const cipher of ['aes-256-gcm', 'chacha20-poly1305'] as const) {
    it(`${cipher}: node:crypto and @noble/ciphers agree byte for byte`, () => {
      const node = nodeAead(cipher);
      const noble = nobleAead(cipher);
      fc.assert(
        fc.property(fc.uint8Array({ minLength: 0, maxLength: 5000 }), fc.uint8Array({ maxLength: 40 }), (plain, aad) => {
          const key = randomBytes(32);
          const nonce = randomBytes(12);
          const a = new Uint8Array(plain.length);
          const b = new Uint8Array(plain.length);
          const tagA = node.seal(key, nonce, aad, plain, a);
          const tagB = noble.seal(key, nonce, aad, plain, b);
          expect(Buffer.from(a)).toEqual(Buffer.from(b));
          expect(Buffer.from(tagA)).toEqual(Buffer.from(tagB));
          const out = new Uint8Array(plain.length);
          expect(noble.open(key, nonce, aad, a, tagA, out)).toBe(true);
          expect(Buffer.from(out)).toEqual(Buffer.from(plain));
          expect(node.open(key, nonce, aad, b, tagB, out)).toBe(true);
          const bad = Uint8Array.from(tagA);
          bad[0]! ^= 1;
          expect(node.open(key, nonce, aad, a, bad, out)).toBe(false);
          expect(noble.open(key, nonce, aad, a, bad, out)).toBe(false);
        }),
        { numRuns: 200 },
      );
    });
  }

  for (const cipher of ['aes-256-gcm', 'chacha20-poly1305'] as const) {
    it(`${cipher}: node:crypto seals and opens in place past its string path (an index snapshot of tens of MiB), and refuses a flipped tag`, () => {
      const node = nodeAead(cipher);
      const key = randomBytes(32);
      const nonce = randomBytes(12);
      const aad = randomBytes(20);
      // Past 16 MiB the open goes a chunk at a time; an odd length ends on a partial chunk.
      const plain = randomBytes(17 * 1024 * 1024 + 12_345);
      const sealed = new Uint8Array(plain.length);
      const tag = node.seal(key, nonce, aad, plain, sealed);
      const copy = sealed.slice();
      expect(node.open(key, nonce, aad, copy, tag, copy)).toBe(true);
      expect(Buffer.from(copy).equals(plain)).toBe(true);
      const bad = Uint8Array.from(tag);
      bad[0] = bad[0]! ^ 1;
      expect(node.open(key, nonce, aad, sealed.slice(), bad, new Uint8Array(plain.length))).toBe(false);
      // The same bytes from the reference backend.
      const reference = new Uint8Array(plain.length);
      expect(nobleAead(cipher).open(key, nonce, aad, sealed, tag, reference)).toBe(true);
      expect(Buffer.from(reference).equals(plain)).toBe(true);
    }, 60_000);

    it(`${cipher}: a message opened in parts, each in place (an index snapshot's table in its shared buffer, the rest apart), equals the reference's plaintext`, () => {
      const noble = nobleAead(cipher);
      fc.assert(
        fc.property(fc.uint8Array({ minLength: 1, maxLength: 300_000 }), fc.nat(), (plain, cut) => {
          const key = randomBytes(32);
          const nonce = randomBytes(12);
          const aad = randomBytes(24);
          const sealed = new Uint8Array(plain.length);
          const tag = noble.seal(key, nonce, aad, plain, sealed);
          const at = cut % (plain.length + 1);
          const first = new Uint8Array(new SharedArrayBuffer(at));
          first.set(sealed.subarray(0, at));
          const rest = sealed.slice(at);
          expect(openPartsInPlace(cipher, key, nonce, aad, [first, rest], tag)).toBe(true);
          expect(Buffer.concat([first, rest]).equals(plain)).toBe(true);
          const bad = Uint8Array.from(tag);
          bad[15] = bad[15]! ^ 0x80;
          expect(openPartsInPlace(cipher, key, nonce, aad, [sealed.slice(0, at), sealed.slice(at)], bad)).toBe(false);
        }),
        { numRuns: 40 },
      );
    });

    it(`${cipher}: a message sealed as a stream of parts (an index snapshot written as it is sealed) is the reference's ciphertext and tag`, () => {
      const noble = nobleAead(cipher);
      fc.assert(
        fc.property(fc.array(fc.uint8Array({ maxLength: 150_000 }), { maxLength: 4 }), (parts) => {
          const key = randomBytes(32);
          const nonce = randomBytes(12);
          const aad = randomBytes(24);
          const chunks: Buffer[] = [];
          const stream = sealStream(cipher, key, nonce, aad);
          for (const part of parts) stream.update(part, (sealed) => void chunks.push(Buffer.from(sealed)));
          const tag = stream.final();
          const plain = Buffer.concat(parts);
          const reference = new Uint8Array(plain.length);
          const referenceTag = noble.seal(key, nonce, aad, plain, reference);
          expect(Buffer.concat(chunks).equals(reference)).toBe(true);
          expect(Buffer.from(tag).equals(referenceTag)).toBe(true);
        }),
        { numRuns: 40 },
      );
    });
  }
});
