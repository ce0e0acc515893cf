/**
 * 64-bit little-endian integers through DataView as two 32-bit halves: file
 * offsets and timestamps stay below 2^53, so a JS number holds them exactly and
 * no BigInt is allocated on hot paths.
 */
export const TWO_32 = 0x1_0000_0000;

export function writeU64(dv: DataView, offset: number, value: number): void {
  dv.setUint32(offset, value >>> 0, true);
  dv.setUint32(offset + 4, Math.floor(value / TWO_32) >>> 0, true);
}

export function readU64(dv: DataView, offset: number): number {
  return dv.getUint32(offset, true) + dv.getUint32(offset + 4, true) * TWO_32;
}
