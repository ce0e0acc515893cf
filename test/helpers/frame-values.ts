/** Keys and values of the frame-records tests' log (frame-log.ts); no imports, so fixture threads load it too. */
export function valueLength(i: number): number {
  return i % 40 === 39 ? 70_000 : 60 + ((i * 37) % 300);
}

export function valueByte(i: number, at: number): number {
  return (i * 31 + at * 3 + (at >> 8)) & 255;
}

export function keyOf(i: number): Buffer {
  return Buffer.from(`k${i}`);
}

/** Index of the first byte where `value` differs from record i's value, or -1. */
export function valueMismatch(i: number, value: Uint8Array): number {
  if (value.length !== valueLength(i)) return 0;
  for (let j = 0; j < value.length; j++) if (value[j] !== valueByte(i, j)) return j;
  return -1;
}
