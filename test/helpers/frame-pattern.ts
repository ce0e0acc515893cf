/** The byte at `offset` of page `page` of owner `owner` in the frame-pool tests: no two pages of a test share their pattern. */
export function pagePattern(owner: number, page: number, offset: number): number {
  return (owner * 97 + page * 11 + offset * 7) & 255;
}

export function pageBytes(owner: number, page: number, size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = pagePattern(owner, page, i);
  return bytes;
}
