import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isWellFormed, keyByteLength } from '../../dist/src/keys.js';

/** Strings mixing ASCII, other BMP text, surrogate pairs and lone surrogates, short and long. */
const UNITS = fc.oneof(
  fc.integer({ min: 0x20, max: 0x7e }),
  fc.integer({ min: 0x80, max: 0xd7ff }),
  fc.integer({ min: 0xd800, max: 0xdbff }),
  fc.integer({ min: 0xdc00, max: 0xdfff }),
  fc.integer({ min: 0xe000, max: 0xffff }),
);
const mixed = (maxLength: number) => fc.array(UNITS, { maxLength }).map((codes) => String.fromCharCode(...codes));

describe('the lone-surrogate scan agrees with the reference', () => {
  it('isWellFormed matches String.prototype.isWellFormed, short and long strings', () => {
    const native = (s: string) => (s as unknown as { isWellFormed(): boolean }).isWellFormed();
    fc.assert(fc.property(fc.oneof(mixed(8), mixed(300)), (s) => {
      expect(isWellFormed(s)).toBe(native(s));
    }), { numRuns: 2000 });
  });

  it('keyByteLength refuses exactly the keys that are not well-formed, and counts the others as UTF-8 does', () => {
    const native = (s: string) => (s as unknown as { isWellFormed(): boolean }).isWellFormed();
    fc.assert(
      fc.property(fc.oneof(mixed(8), mixed(300)), (s) => {
        fc.pre(s.length > 0);
        if (native(s)) expect(keyByteLength(s)).toBe(Buffer.byteLength(s, 'utf8'));
        else expect(() => keyByteLength(s)).toThrowError(expect.objectContaining({ code: 'ERR_EMDB_INVALID_KEY' }));
      }),
      { numRuns: 2000 },
    );
  });
});
