import { DATA_START } from '../format/constants.js';
import { frameSize } from '../format/record.js';
import { recordKeyLen, recordKeyStart, recordNamespace } from '../format/record-fields.js';
import { hashKey } from '../shm/hash.js';
import { ExactLsn, type IndexView } from '../shm/index-table.js';
import type { MirrorWriter } from '../shm/mirror.js';
import { buildSortedFrom } from '../shm/sorted-build.js';
import type { SnapshotLimits, SortedIndexWriter } from '../shm/sorted-writer.js';
import { OldLogWalk } from './old-log-walk.js';

/**
 * The sorted index of a log read through the page cache, rebuilt at open
 * (no usable sorted section in the snapshot): the log is read in order, a
 * window of checked pages at a time (old-log-walk.ts), and a record's key is
 * put when the hash index maps that key to that record. The probe accepts
 * only the record's own LSN, so no key is read back: the slot it finds was
 * filled from this record (its tag is this key's hash, and the index holds
 * a key once). Through the index instead (shm/sorted-build.ts, buildSorted)
 * every live key would be a random read, most of them preads with the log
 * larger than the cache: 1.1 s more for 300,000 keys.
 */
export function buildSortedInLogOrder(index: IndexView, mirror: MirrorWriter, end: number, limits: SnapshotLimits): SortedIndexWriter {
  const walk = new OldLogWalk(() => mirror, end);
  const exactly = new ExactLsn();
  return buildSortedFrom((put) => {
    for (let lsn = DATA_START; lsn < end; ) {
      if (!walk.inWindow(lsn)) walk.moveWindow(lsn);
      const off = walk.at(lsn);
      const dv = walk.dv;
      const u8 = walk.u8;
      const ns = recordNamespace(dv, off);
      const start = recordKeyStart(dv, off);
      const len = recordKeyLen(dv, off);
      exactly.lsn = lsn;
      if (index.find(exactly, ns, u8, start, len, hashKey(ns, u8, start, len)) === lsn) put(ns, u8, start, len, lsn);
      lsn += frameSize(dv, off);
    }
  }, limits);
}
