/**
 * How Level keys map onto emdb-js keys. Level allows the empty key and emdb-js
 * does not, so every stored key is one marker byte followed by the Level key:
 * the mapping is injective and keeps bytewise order (a common first byte), so
 * the sorted index orders stored keys exactly as Level orders its keys.
 */

/** The marker byte in front of every stored key (any value works; 0x21 '!' reads well in dumps). */
export const KEY_MARK = 0x21;
const MARK_STRING = '!';

/** The formats the adapter takes and yields natively (abstract-level transcodes the rest). */
export type LevelFormat = 'buffer' | 'utf8';

/** A Level key (already encoded by abstract-level to a string or bytes) as a stored key. */
export function storedKey(key: string | Uint8Array): string | Uint8Array {
  if (typeof key === 'string') return MARK_STRING + key;
  const out = Buffer.allocUnsafe(key.length + 1);
  out[0] = KEY_MARK;
  out.set(key, 1);
  return out;
}

/** A stored key as bytes (range bounds are compared as bytes). */
export function storedKeyBytes(key: string | Uint8Array): Uint8Array {
  const k = storedKey(key);
  return typeof k === 'string' ? Buffer.from(k, 'utf8') : k;
}

/** A stored value (bytes) as a Level value in `format`. */
export function levelValue(stored: Buffer, format: string): Buffer | string {
  return format === 'utf8' ? stored.toString('utf8') : stored;
}
