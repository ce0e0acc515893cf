import { createRequire } from 'node:module';
import type { Packr } from 'msgpackr';
import { EmdbError, ErrorCode } from './errors.js';
import { describe, isWellFormed } from './keys.js';

import type { ValueEncoding } from './types.js';

export type { ValueEncoding };
export const VALUE_ENCODINGS: readonly ValueEncoding[] = ['binary', 'utf8', 'json', 'msgpack'];

/**
 * Turns user values into bytes (or a string the writer path UTF-8-encodes in
 * place) and stored bytes back into values. Decoding reads straight out of the
 * shared mirror: `binary` copies, so callers can never write into shared memory.
 */
export interface ValueCodec {
  readonly name: ValueEncoding;
  encode(value: unknown): string | Uint8Array;
  decode(u8: Uint8Array, start: number, len: number): unknown;
}

const utf8Slice = (Buffer.prototype as unknown as { utf8Slice: (this: Uint8Array, s: number, e: number) => string })
  .utf8Slice;

/**
 * Copies value bytes out of shared memory into a pooled Buffer. Measured on Node
 * 20: ~130 ns for 150 bytes, where Buffer.copyBytesFrom takes ~3.4 µs.
 */
function copyOut(u8: Uint8Array, start: number, len: number): Buffer {
  const out = Buffer.allocUnsafe(len);
  out.set(u8.subarray(start, start + len));
  return out;
}

/**
 * A string value is stored as UTF-8, which has no form for a lone UTF-16
 * surrogate (it would come back as U+FFFD): refused rather than changed.
 */
function wellFormedText(s: string): string {
  if (!isWellFormed(s)) throw lossy();
  return s;
}

function lossy(): EmdbError {
  return new EmdbError(ErrorCode.INVALID_VALUE, 'a string in the value contains a lone UTF-16 surrogate, which UTF-8 cannot store');
}

/**
 * JSON.stringify escapes a lone surrogate as `\udXXX` (lower-case hex; a
 * surrogate pair is written raw), and `\ud` appears in its output only there or
 * after an escaped backslash: a native substring test, then a regex only when
 * that hits. JSON itself would round-trip the escape; the check keeps one rule
 * for every encoding (and values that could not move to msgpack or utf8).
 */
const LONE_SURROGATE_ESCAPE = /(?:^|[^\\])(?:\\\\)*\\ud[89a-f]/;

/**
 * Throws when a string anywhere in a value (keys of objects included) is not
 * well-formed, or when the value holds a Map or a Set (msgpack only: neither
 * would come back as stored). Run after msgpackr accepted the value, so there
 * is no cycle to follow. Plain objects and arrays first, strings checked inline: the
 * cheapest walk measured (~0.2 µs CPU for a 5-field object with a nested one,
 * where packing it costs ~0.6 µs; a walk through Object.keys and instanceof
 * tests first cost ~0.3 µs).
 */
function checkStrings(value: object): void {
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto === Object.prototype || proto === null) {
    for (const k in value) {
      if (!isWellFormed(k)) throw lossy();
      checkMember((value as Record<string, unknown>)[k]);
    }
  } else if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) checkMember(value[i]);
  } else if (value instanceof Map || value instanceof Set) {
    // The msgpack codec decodes maps as plain objects (mapsAsObjects, implied by
    // useRecords: false; changing it would change how stored objects decode):
    // a Map would come back an object whose keys are strings (1 and '1'
    // collide; an object key makes a value no read can decode) and a Set an
    // array. Refused, as lone surrogates are, rather than changed.
    throw new EmdbError(ErrorCode.INVALID_VALUE, `a ${value instanceof Map ? 'Map' : 'Set'} cannot be stored with msgpack (it would come back as ${value instanceof Map ? 'a plain object' : 'an array'}): convert it first (Object.fromEntries(map), [...set])`);
  } else if (!ArrayBuffer.isView(value) && !(value instanceof ArrayBuffer) && !(value instanceof Date)) {
    for (const k of Object.keys(value)) {
      if (!isWellFormed(k)) throw lossy();
      checkMember((value as Record<string, unknown>)[k]);
    }
  }
}

function checkMember(v: unknown): void {
  if (typeof v === 'string') {
    if (!isWellFormed(v)) throw lossy();
  } else if (typeof v === 'object' && v !== null) {
    checkStrings(v);
  }
}

const binary: ValueCodec = {
  name: 'binary',
  encode(value) {
    if (typeof value === 'string') return wellFormedText(value);
    if (value instanceof Uint8Array) return value;
    throw new EmdbError(ErrorCode.INVALID_VALUE, `a binary value must be a string or a Uint8Array, got ${describe(value)}`);
  },
  decode: copyOut,
};

const utf8: ValueCodec = {
  name: 'utf8',
  encode(value) {
    if (typeof value === 'string') return wellFormedText(value);
    if (value instanceof Uint8Array) return value;
    throw new EmdbError(ErrorCode.INVALID_VALUE, `a utf8 value must be a string, got ${describe(value)}`);
  },
  decode: (u8, start, len) => utf8Slice.call(u8, start, start + len),
};

const json: ValueCodec = {
  name: 'json',
  encode(value) {
    let text: string | undefined;
    try {
      text = JSON.stringify(value);
    } catch (cause) {
      throw new EmdbError(ErrorCode.INVALID_VALUE, 'value cannot be serialized as JSON', { cause });
    }
    if (text === undefined) throw new EmdbError(ErrorCode.INVALID_VALUE, `${describe(value)} has no JSON form`);
    if (text.includes('\\ud') && LONE_SURROGATE_ESCAPE.test(text)) throw lossy();
    return text;
  },
  decode: (u8, start, len) => {
    try {
      return JSON.parse(utf8Slice.call(u8, start, start + len)) as unknown;
    } catch (cause) {
      throw undecodable('json', cause);
    }
  },
};

/**
 * The msgpack value codec loads msgpackr (with its native string extractor, which
 * pays off on large string-heavy values) only when a database uses it: the
 * thread-to-thread messages use the pure-JS build (protocol.ts), so a database
 * with another encoding never loads the native module (~14 ms per thread).
 */
let valuePackr: Packr | undefined;
function packr(): Packr {
  if (!valuePackr) {
    const { Packr: Full } = createRequire(import.meta.url)('msgpackr') as typeof import('msgpackr');
    valuePackr = new Full({ useRecords: false });
  }
  return valuePackr;
}
/** msgpackr's encoding of `undefined`: fixext 1, type 0, one zero byte. */
const MSGPACK_UNDEFINED = [0xd4, 0x00, 0x00] as const;
const msgpack: ValueCodec = {
  name: 'msgpack',
  encode(value) {
    if (value === undefined || typeof value === 'function' || typeof value === 'symbol') {
      throw new EmdbError(ErrorCode.INVALID_VALUE, `${describe(value)} cannot be stored with msgpack`);
    }
    let packed: Uint8Array;
    try {
      packed = packr().pack(value);
    } catch (cause) {
      throw new EmdbError(ErrorCode.INVALID_VALUE, 'value cannot be serialized with msgpack', { cause });
    }
    // Whatever else msgpackr writes as `undefined` (its extension 0, what it makes of a function) would read back as undefined.
    if (packed.length === 3 && packed[0] === MSGPACK_UNDEFINED[0] && packed[1] === MSGPACK_UNDEFINED[1] && packed[2] === MSGPACK_UNDEFINED[2]) {
      throw new EmdbError(ErrorCode.INVALID_VALUE, `${describe(value)} has no msgpack form (it would read back as undefined)`);
    }
    // After pack: a value msgpackr accepted has no cycle for the walk to loop on.
    checkMember(value);
    return packed;
  },
  decode: (u8, start, len) => {
    try {
      return packr().unpack(copyOut(u8, start, len)) as unknown;
    } catch (cause) {
      throw undecodable('msgpack', cause);
    }
  },
};

/**
 * A stored value the codec cannot read: the value was written under another
 * encoding (a format 1/2 file records none, so open cannot refuse the mismatch)
 * or by another program. Every read path decodes through a codec, so this is
 * the one place that turns a SyntaxError or a msgpackr error into an EmdbError.
 */
function undecodable(encoding: ValueEncoding, cause: unknown): EmdbError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new EmdbError(
    ErrorCode.INVALID_VALUE,
    `a stored value cannot be decoded as ${encoding} (${why}); was it written with another valueEncoding?`,
    { cause },
  );
}

const CODECS: Record<ValueEncoding, ValueCodec> = { binary, utf8, json, msgpack };

export function codecFor(name: ValueEncoding): ValueCodec {
  return CODECS[name];
}
