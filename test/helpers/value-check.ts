import { createHash } from 'node:crypto';

/**
 * Self-validating values for concurrency tests: each value names its key and
 * version and carries a digest of both, so a torn read, a value served under the
 * wrong key or a mix of two versions is detectable from the bytes alone.
 */
export function makeValue(key: string, version: number, size = 150): Buffer {
  const v = Buffer.alloc(size);
  v.writeUInt32LE(version, 0);
  const k = Buffer.from(key);
  v.writeUInt16LE(k.length, 4);
  k.copy(v, 6);
  const fill = (version * 31 + k.length) & 0xff;
  v.fill(fill, 6 + k.length, size - 16);
  digest(v).copy(v, size - 16);
  return v;
}

function digest(v: Buffer): Buffer {
  return createHash('sha256').update(v.subarray(0, v.length - 16)).digest().subarray(0, 16);
}

/** Why `value` is not a valid value for `key`, or undefined when it is. */
export function checkValue(key: string, value: Buffer): string | undefined {
  if (value.length < 32) return `short value (${value.length} bytes)`;
  if (!digest(value).equals(value.subarray(value.length - 16))) return 'digest mismatch (torn or corrupt value)';
  const len = value.readUInt16LE(4);
  const stored = value.subarray(6, 6 + len).toString();
  if (stored !== key) return `value belongs to key ${stored}`;
  return undefined;
}

export function versionOf(value: Buffer): number {
  return value.readUInt32LE(0);
}
