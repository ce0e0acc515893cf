import { EmdbError, ErrorCode } from './errors.js';
import { MAX_KEY_BYTES, MAX_VALUE_BYTES } from './format/constants.js';

export type Key = string | Uint8Array;

/**
 * The keys getMany and removeMany take: an iterable object of keys (an array,
 * a Set, a generator). `& object` makes a single string a compile error: a
 * string is iterable (of its characters), but it is one key, and the call
 * refuses it at run time (ERR_EMDB_INVALID_CONFIG).
 */
export type Keys = Iterable<Key> & object;

/**
 * Validates a key and returns its UTF-8 / raw byte length. Validation happens in
 * the public method, before anything is queued for the writer.
 */
export function keyByteLength(key: unknown): number {
  let len: number;
  if (typeof key === 'string') {
    // UTF-8 has no form for a lone surrogate: it would be stored as U+FFFD, so
    // '\ud800', '\udfff' and '\ufffd' would all be one key. Short keys are
    // checked by the same scan that finds ASCII ones (no extra pass).
    const scan = key.length < 256 ? scanShort(key) : isWellFormed(key) ? NON_ASCII : ILL_FORMED;
    if (scan === ILL_FORMED) throw new EmdbError(ErrorCode.INVALID_KEY, 'a key must not contain lone UTF-16 surrogates');
    len = scan === ASCII ? key.length : Buffer.byteLength(key, 'utf8');
  } else if (key instanceof Uint8Array) {
    len = key.length;
  } else {
    throw new EmdbError(ErrorCode.INVALID_KEY, `a key must be a string or a Uint8Array, got ${describe(key)}`);
  }
  if (len === 0) throw new EmdbError(ErrorCode.INVALID_KEY, 'a key must not be empty');
  if (len > MAX_KEY_BYTES) {
    throw new EmdbError(ErrorCode.KEY_TOO_LARGE, `key is ${len} bytes; the limit is ${MAX_KEY_BYTES}`);
  }
  return len;
}

/**
 * The keys of a getMany call as an array. A string or a Uint8Array is iterable
 * but is one key, not a list of them: refused like anything not iterable
 * (ERR_EMDB_INVALID_CONFIG), as insertMany and removeMany refuse them.
 */
export function keyList<K>(keys: Iterable<K>, method: string): K[] {
  if (typeof keys !== 'object' || keys === null || ArrayBuffer.isView(keys) || !(Symbol.iterator in keys)) {
    throw new EmdbError(ErrorCode.INVALID_CONFIG, `${method} takes an iterable (e.g. an array) of keys, not ${describe(keys)}`);
  }
  return [...keys];
}

export function checkValueLength(len: number): void {
  if (len > MAX_VALUE_BYTES) {
    throw new EmdbError(ErrorCode.VALUE_TOO_LARGE, `value is ${len} bytes; the limit is ${MAX_VALUE_BYTES}`);
  }
}

/** Writes a validated key at `off`; `len` is what keyByteLength returned. */
export function writeKey(dst: Buffer, off: number, key: Key, len: number): void {
  if (typeof key === 'string') {
    // Node's own fast paths behind Buffer#write, without its argument parsing.
    if (len === key.length) (dst as unknown as FastWrite).latin1Write(key, off, len);
    else (dst as unknown as FastWrite).utf8Write(key, off, len);
  } else {
    dst.set(key, off);
  }
}

/** String.prototype.isWellFormed (Node 20; in TypeScript's ES2024 lib, which this build does not load). */
interface WellFormed {
  isWellFormed(): boolean;
}

const ASCII = 0;
const NON_ASCII = 1;
const ILL_FORMED = 2;

/**
 * One pass over a short string: ASCII, other well-formed text, or a lone
 * surrogate somewhere. Measured on Node 20, the native isWellFormed costs
 * ~70-100 ns a call on a short two-byte string, more than this loop.
 */
function scanShort(s: string): number {
  let kind = ASCII;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    kind = NON_ASCII;
    if ((c & 0xf800) !== 0xd800) continue;
    // A high surrogate followed by a low one is a pair; anything else is lone.
    if (c > 0xdbff || i + 1 === s.length || (s.charCodeAt(i + 1) & 0xfc00) !== 0xdc00) return ILL_FORMED;
    i++;
  }
  return kind;
}

/** True when `s` has no lone surrogate, i.e. UTF-8 encodes it without loss. */
export function isWellFormed(s: string): boolean {
  return s.length < 64 ? scanShort(s) !== ILL_FORMED : (s as unknown as WellFormed).isWellFormed();
}

interface FastWrite {
  latin1Write(s: string, off: number, len: number): number;
  utf8Write(s: string, off: number, len: number): number;
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? (v.constructor?.name ?? 'object') : typeof v;
}

/**
 * A reusable buffer for keys on the read path (getSync, get batching): no
 * allocation per lookup. Sized for the largest key.
 */
export class KeyScratch {
  readonly buf = Buffer.allocUnsafe(MAX_KEY_BYTES);
  /** Where the last encoded key's bytes are: the scratch buffer or the caller's array. */
  bytes: Uint8Array = this.buf;

  /** Validates and encodes `key`; returns its length, bytes in `this.bytes[0, len)`. */
  encode(key: unknown): number {
    if (typeof key === 'string') {
      this.bytes = this.buf;
      // A short ASCII key (ids, "user:123" from a request) is checked and copied
      // in one pass with no native call: ~110 ns less than the scan followed by
      // latin1Write for 37 characters (docs/DESIGN.md, "The getSync hit path").
      // ASCII is well-formed and one byte a character, so this is exactly what
      // keyByteLength + writeKey would do; anything else takes that path.
      const n = key.length;
      if (n !== 0 && n <= ASCII_ONE_PASS_MAX) {
        const buf = this.buf;
        let i = 0;
        for (; i < n; i++) {
          const c = key.charCodeAt(i);
          if (c >= 0x80) break;
          buf[i] = c;
        }
        if (i === n) return n;
      }
      const len = keyByteLength(key);
      writeKey(this.buf, 0, key, len);
      return len;
    }
    const len = keyByteLength(key);
    this.bytes = key as Uint8Array;
    return len;
  }
}

/** Longest string key copied by the one-pass ASCII loop; longer ones are faster through latin1Write. */
const ASCII_ONE_PASS_MAX = 128;
