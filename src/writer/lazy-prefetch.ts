import { RecordKind } from '../format/constants.js';
import { frameSize } from '../format/record.js';
import { recordExpiresAt, recordKeyLen, recordKeyStart, recordKind, recordNamespace } from '../format/record-fields.js';
import type { LogState } from '../log/log-state.js';
import { hashKey } from '../shm/hash.js';
import { MAX_LOAD } from '../shm/layout.js';

/** Record kinds whose apply reads no older record but the one its key replaces (LogState.apply). */
const KEYED: ReadonlySet<number> = new Set([RecordKind.PUT, RecordKind.TOMBSTONE]);
/** Framing and catalogue records that read no older record at all. */
const READS_NOTHING: ReadonlySet<number> = new Set([RecordKind.TX_BEGIN, RecordKind.TX_COMMIT, RecordKind.NS_CREATE]);

/**
 * Before an append to a lazily opened log touches the file: loads (and checks
 * against their page CRCs) the pages of every older record that applying
 * `batch` will read, so a damaged page is met before any byte of the batch is
 * in the file, never after (a write both refused and in the log). For a put or
 * a removal those are the records its index probe compares keys with, the
 * record it replaces among them: the same probe the apply makes, with the same
 * table (the batch's own records are appended after the lazy bytes, always
 * resident). The probes must walk the same tables the apply will: the caller
 * has sized the index for the batch (reserveKeys) before calling, and a batch
 * during a tombstone purge (whose new table a put also probes, in another
 * order) or with more puts than the table has room for (a rebuild inside the
 * apply) is not prefetched. Returns false for those, and when the batch has a
 * record whose apply may read records that no key names (a clear, a prefix
 * delete, a namespace drop; a TTL, whose deadline bookkeeping may re-read
 * others): the caller then loads every page.
 */
export function prefetchReplaced(state: LogState, batch: Uint8Array): boolean {
  const dv = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
  const index = state.index;
  if (state.purging) return false;
  let puts = 0;
  for (let off = 0; off < batch.length; off += frameSize(dv, off)) if (recordKind(dv, off) === RecordKind.PUT) puts++;
  if (index.live + index.deleted + puts > index.capacity * MAX_LOAD) return false;
  for (let off = 0; off < batch.length; off += frameSize(dv, off)) {
    const kind = recordKind(dv, off);
    if (READS_NOTHING.has(kind)) continue;
    if (!KEYED.has(kind) || recordExpiresAt(dv, off) !== 0) return false;
    const ns = recordNamespace(dv, off);
    const start = recordKeyStart(dv, off);
    const len = recordKeyLen(dv, off);
    // find() loads each candidate record's pages (MirrorView.keyEquals → recordAt), the replaced one included.
    index.find(state.mirror, ns, batch, start, len, hashKey(ns, batch, start, len));
  }
  return true;
}
