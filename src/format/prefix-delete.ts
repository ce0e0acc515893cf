/**
 * The prefix-delete record (docs/FORMAT.md, "Prefix delete"): one record that
 * removes every key of a namespace whose bytes start with a prefix — a group
 * delete (`group(p).remove()`, `focus(p).clear()`) as one small, CRC-sealed and
 * therefore crash-atomic record instead of a tombstone per key.
 *
 * Layout: the common record header (format/constants.ts, RECORD) with
 *   KIND       = PREFIX_DELETE_KIND (8)
 *   FLAGS      = 0 (or RECORD_FLAG_IN_TX inside a transaction)
 *   NAMESPACE  = the namespace id
 *   KEY_LEN    = length of the prefix bytes, which are the record's key
 *                (for a group: UTF-8 of the group name followed by the separator)
 *   VALUE_LEN  = 0, EXPIRES_AT = 0
 * Applying it removes exactly the keys present at that point of the log.
 */

/** The record kind of a prefix delete: the next free kind after CLEAR (7). */
export const PREFIX_DELETE_KIND = 8 as const;

/** True when the key at bytes[start, start + len) starts with `prefix`. */
export function prefixMatches(bytes: Uint8Array, start: number, len: number, prefix: Uint8Array): boolean {
  if (len < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[start + i] !== prefix[i]) return false;
  return true;
}
