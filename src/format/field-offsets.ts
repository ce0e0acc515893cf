/**
 * Lays out consecutive fields from their sizes, so that a layout table lists
 * each field's size once and every offset follows from the ones before it (the
 * tables in docs/FORMAT.md read the same way: offset = previous offset + size).
 * A gap in a layout is an explicit reserved field, never a jump in the numbers.
 */

/** The offset of each field, in the order the sizes were declared, and where the last one ends. */
export interface FieldLayout<S> {
  readonly offsets: { readonly [K in keyof S]: number };
  /** `start` plus the sum of every size: the first offset past the last field. */
  readonly end: number;
}

/**
 * `sizes` in declaration order (field names are never integer-like, so object
 * order is declaration order); the unit is the caller's: bytes for a byte
 * layout, words for an index into a typed-array view. `start` is the offset of
 * the first field, for a layout that continues another one.
 */
export function fieldOffsets<S extends Record<string, number>>(sizes: S, start = 0): FieldLayout<S> {
  const fields: [string, number][] = [];
  let at = start;
  for (const [name, size] of Object.entries(sizes)) {
    fields.push([name, at]);
    at += size;
  }
  // Built in one go: an object grown one keyed store at a time past a dozen
  // fields turns into a hash table, slower to read on the paths that use these offsets.
  const offsets = Object.fromEntries(fields) as { readonly [K in keyof S]: number };
  return { offsets, end: at };
}
