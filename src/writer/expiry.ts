/**
 * The writer's expiry decisions, all taken on the writer thread when it applies
 * them, so they cannot race each other or a write: the sweep (removal records
 * for keys whose deadline passed) and persist (clear a key's TTL). Both build
 * ordinary sealed records that the engine appends like any batch, so recovery
 * needs nothing new for them.
 */
import { RECORD_HEADER_SIZE, RecordKind } from '../format/constants.js';
import { sealRecord } from '../format/record.js';
import { recordExpiresAt, recordKeyLen, recordKeyStart, recordNamespace, recordValueLen } from '../format/record-fields.js';
import type { LogState } from '../log/log-state.js';
import { hashKey } from '../shm/hash.js';
import { testMutant } from '../mutants.js';

const PERSIST_REVIVES = testMutant.name === 'persist-revives';

/** Deadlines popped between two reads of the clock (performance.now() costs more than a pop). */
const CLOCK_EVERY = 64;

/**
 * Pops the deadlines that passed by `now`, at most `max` of them and only
 * until `until` (performance.now() time: on a slow or loaded machine the count
 * alone would not bound the batch), and frames a TOMBSTONE for each that is
 * still the key's current record (stale entries — overwritten, removed,
 * persisted keys — are dropped). Returns the batch (may be empty) and how
 * many tombstones it holds.
 */
export function sweepBatch(state: LogState, now: number, max: number, until = Infinity): { batch: Uint8Array; count: number } {
  const heap = state.deadlines;
  const lsns: number[] = [];
  let bytes = 0;
  // Stale entries cost a probe, not a record: bound them too, so one batch stays short.
  for (let visited = 0; visited < max * 4 && lsns.length < max && heap.peekDeadline() <= now; visited++) {
    if (visited % CLOCK_EVERY === CLOCK_EVERY - 1 && performance.now() >= until) break;
    const lsn = heap.peekLsn();
    heap.pop();
    if (!state.isCurrent(lsn)) continue;
    lsns.push(lsn);
    // isCurrent loaded the record (recordAt): nothing is loaded between it and the batch.
    const off = state.mirror.residentRecordAt(lsn);
    bytes += RECORD_HEADER_SIZE + recordKeyLen(state.mirror.recDv, off);
  }
  const batch = new Uint8Array(bytes);
  const dv = new DataView(batch.buffer);
  let at = 0;
  for (const lsn of lsns) {
    const off = state.mirror.residentRecordAt(lsn);
    const sdv = state.mirror.recDv;
    const keyStart = recordKeyStart(sdv, off);
    const keyLen = recordKeyLen(sdv, off);
    batch.set(state.mirror.recU8.subarray(keyStart, keyStart + keyLen), at + RECORD_HEADER_SIZE);
    at += sealRecord(batch, dv, at, RecordKind.TOMBSTONE, 0, recordNamespace(sdv, off), keyLen, 0, 0);
  }
  return { batch, count: lsns.length };
}

/**
 * persist(): the PUT that re-writes the key's current value with no deadline,
 * or undefined — and nothing is written — when the key is missing, already
 * expired by `now`, or has no TTL. Never revives an expired record.
 */
export function persistRecord(state: LogState, ns: number, key: Uint8Array, now: number): Uint8Array | undefined {
  const lsn = state.index.find(state.mirror, ns, key, 0, key.length, hashKey(ns, key, 0, key.length));
  if (lsn < 0) return undefined;
  // The probe's key comparison loaded it.
  const off = state.mirror.residentRecordAt(lsn);
  const sdv = state.mirror.recDv;
  const expiresAt = recordExpiresAt(sdv, off);
  if (expiresAt === 0 || (expiresAt <= now && !PERSIST_REVIVES)) return undefined;
  const keyStart = recordKeyStart(sdv, off);
  const keyLen = recordKeyLen(sdv, off);
  const valueLen = recordValueLen(sdv, off);
  const rec = new Uint8Array(RECORD_HEADER_SIZE + keyLen + valueLen);
  rec.set(state.mirror.recU8.subarray(keyStart, keyStart + keyLen + valueLen), RECORD_HEADER_SIZE);
  sealRecord(rec, new DataView(rec.buffer), 0, RecordKind.PUT, 0, ns, keyLen, valueLen, 0);
  return rec;
}
