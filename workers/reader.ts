/**
 * Reader pool task (piscina): resolves a block of keys against the shared index
 * and copies their values out of the shared mirror into one transferable buffer.
 * No copy of the index exists in this thread. Tasks and their bytes: protocol.ts.
 */
import { move, workerData } from 'piscina';
import { ABSENT, KEY_ENTRY_HEADER, RESULT_LEN_SIZE, type ReaderInit, type ReadTask, type ScanListTask, type ScanTask } from '../src/protocol.js';
import { toThreadError } from '../src/errors.js';
import { readBatchesWhole } from '../src/shm/batch-seq.js';
import { listLsns, scanLsns } from '../src/shm/scan.js';
import { collectNow } from '../src/shm/collect-garbage.js';
import { SharedView } from '../src/shm/shared-view.js';
import { runRangeTask, type RangeTaskMessage } from '../src/range/pool-scan.js';
import type { Chunk } from '../src/range/snapshot.js';

const init = workerData as ReaderInit;
const view = new SharedView(init.control, init.channelName, init.buffers);
// workerData lives as long as this thread: holding the start-up set there would keep that generation's buffers after a compaction.
init.buffers = undefined;
/** The log epoch (BufferSet.logEpoch) this thread last read: a change means a compaction dropped a generation. */
let lastEpoch = view.logEpoch;

/** Iteration, first step: the LSNs of a window of slots of the table the iterator captured, ascending. */
export function scanList(task: ScanListTask): ArrayBuffer {
  return acrossTheHop(() => move(listLsns(task.scan, task.from, task.count).buffer as ArrayBuffer) as ArrayBuffer);
}

/** Iteration, second step: the records at some of those LSNs, read in that (log) order. */
export function scan(task: ScanTask): ArrayBuffer {
  return acrossTheHop(() => move(scanLsns(task.scan, task.namespace, new Float64Array(task.lsns), task.values, view.now())) as ArrayBuffer);
}

/** Range scans: one chunk from the snapshot the calling thread captured (src/range/pool-scan.ts). */
export function range(task: RangeTaskMessage): Chunk {
  return acrossTheHop(() => runRangeTask(task));
}

export default function read(task: ReadTask): ArrayBuffer | null {
  return acrossTheHop(() => readBlock(task));
}

/** Runs a task so that an EmdbError it throws (a damaged page of a lazily opened log) keeps its code and offset on the calling thread. */
function acrossTheHop<T>(task: () => T): T {
  try {
    return task();
  } catch (err) {
    throw toThreadError(err);
  }
}

function readBlock(task: ReadTask): ArrayBuffer | null {
  if (task.shared) view.offer(task.shared);
  // A reader started after a buffer set was published cannot catch up alone: ask for it.
  if (!view.sync()) return null;
  // A compaction replaced the mirror and index: the old ones are garbage in this small heap (collect-garbage.ts).
  // After sync, which is where a reader usually meets the new set: checked before it, the collection came one task late.
  if (view.logEpoch !== lastEpoch) {
    lastEpoch = view.logEpoch;
    collectNow();
  }
  const keys = new Uint8Array(task.keys, 0, task.keyBytes);
  const kdv = new DataView(task.keys, 0, task.keyBytes);
  const n = task.count;
  view.countReads(n);
  // Published before the answer leaves, so the caller's next stats() counts these.
  view.publishReads();
  const found = new Array<Uint8Array | undefined>(n);
  const starts = new Float64Array(n);
  const lens = new Int32Array(n);
  let total = 0;
  let current = true;
  const lookAll = (): void => {
    lens.fill(ABSENT);
    total = 0;
    for (let i = 0, off = 0; i < n; i++) {
      const ns = kdv.getUint32(off, true);
      const len = kdv.getUint32(off + 4, true);
      off += KEY_ENTRY_HEADER;
      if (view.lookup(ns, keys, off, len)) {
        if (view.valueStable) {
          found[i] = view.valueU8;
          starts[i] = view.valueStart;
        } else {
          // A framed log's value is in a scratch the next lookups reuse (framed-mirror.ts): copied now.
          found[i] = view.valueU8.slice(view.valueStart, view.valueStart + view.valueLen);
          starts[i] = 0;
        }
        lens[i] = view.valueLen;
        total += view.valueLen;
      }
      off += len;
    }
  };
  if (task.whole) {
    // A getMany: every key within one even BATCH_SEQ, the view synced at each try (rule R6).
    readBatchesWhole(view.ctl32, () => {
      current = view.sync() && current;
      lookAll();
    });
  } else {
    lookAll();
  }
  if (!current) return null;
  const out = new ArrayBuffer(n * RESULT_LEN_SIZE + total);
  const odv = new DataView(out);
  const ou8 = new Uint8Array(out);
  let at = n * RESULT_LEN_SIZE;
  for (let i = 0; i < n; i++) {
    const len = lens[i]!;
    odv.setInt32(i * RESULT_LEN_SIZE, len, true);
    if (len > 0) {
      const src = found[i]!;
      const s = starts[i]!;
      ou8.set(src.subarray(s, s + len), at);
      at += len;
    }
  }
  return move(out) as ArrayBuffer;
}
