/**
 * Drives the writer engine (from dist) on this thread over any FileIO, and reads
 * a recovered database back the way the reader threads do: iteration through
 * scanSlots over the shared index and mirror, point reads through the index
 * probe, and every record the index points at checked against its CRC.
 */
import { RecordKind } from '../../../dist/src/format/constants.js';
import { checkRecord } from '../../../dist/src/format/record.js';
import { hashKey } from '../../../dist/src/shm/hash.js';
import { RecordBuffer } from '../../../dist/src/core/record-buffer.js';
import { scanSlots, unpackScan } from '../../../dist/src/shm/scan.js';
import type { FileIO } from '../../../dist/src/log/file-io.js';
import type { FlushPolicy } from '../../../dist/src/types.js';
import { IndexView } from '../../../dist/src/shm/index-table.js';
import { SLOT_BASE_WORDS, SLOT_WORDS, SlotWord, TAG_DELETED, TAG_EMPTY } from '../../../dist/src/shm/layout.js';
import { lsnOf } from '../../../dist/src/shm/mirror.js';
import { mirrorViewOf } from '../../../dist/src/shm/framed-mirror.js';
import { createControlBlock } from '../../../dist/src/shm/shared-view.js';
import { WriterEngine } from '../../../dist/src/writer/engine.js';
import { valueAt } from '../../../dist/test/helpers/engine-state.js';
import { checkSorted, harness } from './sorted-check.js';

/** The database lives in a directory the workload's first open has to create. */
export const DB_DIR = '/data/app';
export const DB = `${DB_DIR}/db.emdb`;

export type Put = { t: 'put'; k: string; v: string };
export type Del = { t: 'del'; k: string };
/**
 * A unit is what recovery keeps whole or not at all: one put, one remove, an
 * insertMany chunk or a transaction (both framed TX_BEGIN .. TX_COMMIT).
 */
export type Unit = Put | Del | { t: 'many'; entries: Put[] } | { t: 'tx'; ops: (Put | Del)[] };

export function newEngine(io: FileIO, policy: FlushPolicy, file = DB): WriterEngine {
  const rangeScans = harness.rangeScans ? { rangeScans: harness.rangeScans } : {};
  // Framed only where the run marked its file system shared (workload.ts): frames are read through io.read on this thread.
  const cache = harness.cacheSize !== undefined && io.sharedDescriptors === true ? { cacheSize: harness.cacheSize } : {};
  return new WriterEngine({ path: file, flushPolicy: policy, io, control: createControlBlock(), publish: () => undefined, ...rangeScans, ...cache });
}

/** A new engine on `file`, opened (see openOrRelease). */
export function openEngine(io: FileIO, policy: FlushPolicy, file = DB): WriterEngine {
  return openOrRelease(newEngine(io, policy, file));
}

/** Opens `engine`; on failure releases what open acquired (as workers/writer.ts does) and rethrows. */
export function openOrRelease(engine: WriterEngine): WriterEngine {
  try {
    engine.open();
  } catch (err) {
    try {
      engine.close();
    } catch {
      // the open failure is the one to report
    }
    throw err;
  }
  return engine;
}

/** Frames units into one batch, the way the write batcher, insertMany and transactions do. */
export function encodeUnits(units: readonly Unit[]): { batch: Uint8Array; records: number } {
  const rb = new RecordBuffer();
  const one = (op: Put | Del): void => {
    const keyLen = Buffer.byteLength(op.k);
    if (op.t === 'put') rb.append(RecordKind.PUT, 0, op.k, keyLen, op.v, 0);
    else rb.append(RecordKind.TOMBSTONE, 0, op.k, keyLen, null, 0);
  };
  for (const u of units) {
    if (u.t === 'many' || u.t === 'tx') {
      rb.beginTx();
      for (const op of u.t === 'many' ? u.entries : u.ops) one(op);
      rb.commitTx();
    } else {
      one(u);
    }
  }
  const { payload, bytes, count } = rb.take();
  return { batch: new Uint8Array(payload, 0, bytes), records: count };
}

export function applyUnit(model: Map<string, string>, u: Unit): void {
  const ops = u.t === 'many' ? u.entries : u.t === 'tx' ? u.ops : [u];
  for (const op of ops) {
    if (op.t === 'put') model.set(op.k, op.v);
    else model.delete(op.k);
  }
}

export interface ReadBack {
  state: Map<string, string>;
  /** Anything a reader would have got wrong: a record failing its CRC, iteration and point reads disagreeing. */
  problems: string[];
}

/** Reads every live entry of the default namespace as readers would, checking each record served. */
export function readBack(engine: WriterEngine, probeKeys: Iterable<string>): ReadBack {
  const problems: string[] = [];
  const set = engine.currentBuffers();
  const index = new IndexView(set.index);
  const mirror = mirrorViewOf(set);
  for (let slot = 0; slot < index.capacity; slot++) {
    const base = SLOT_BASE_WORDS + slot * SLOT_WORDS;
    const tag = index.i32[base + SlotWord.TAG]!;
    if (tag === TAG_EMPTY || tag === TAG_DELETED) continue;
    const lsn = lsnOf(index.i32[base + SlotWord.LSN_LO]!, index.i32[base + SlotWord.LSN_HI]!);
    const off = mirror.residentRecordAt(lsn);
    const u8 = mirror.recU8;
    const len = u8.length > 0 ? checkRecord(u8, mirror.recDv, off, u8.length) : -1;
    if (len < 0) problems.push(`index slot ${slot} points at a record at ${lsn} that fails its check (${len})`);
  }
  const state = new Map<string, string>();
  const { packed } = scanSlots(set, 0, 0, index.capacity, true, Date.now());
  for (const [k, v] of unpackScan(packed)) state.set(k.toString('latin1'), v.toString('latin1'));
  problems.push(...checkSorted(set, mirror, state));
  if (engine.count(0) !== state.size) problems.push(`len() says ${engine.count(0)}, iteration found ${state.size}`);
  for (const key of probeKeys) {
    const kb = Buffer.from(key, 'latin1');
    const lsn = index.find(mirror, 0, kb, 0, kb.length, hashKey(0, kb, 0, kb.length));
    const got = lsn < 0 ? undefined : valueAt(mirror, lsn);
    if (got !== state.get(key)) problems.push(`point read of ${key} gives ${describeValue(got)}, iteration ${describeValue(state.get(key))}`);
  }
  return { state, problems };
}

export function describeValue(v: string | undefined): string {
  return v === undefined ? 'absent' : `"${v.slice(0, 16)}…"(${v.length})`;
}

/** Equal maps, or the first difference. */
export function diffStates(got: Map<string, string>, want: Map<string, string>): string | undefined {
  for (const [k, v] of want) if (got.get(k) !== v) return `${k}: got ${describeValue(got.get(k))}, want ${describeValue(v)}`;
  for (const k of got.keys()) if (!want.has(k)) return `${k}: got ${describeValue(got.get(k))}, want absent`;
  return undefined;
}
