import { KeyScratch, type Key } from '../keys.js';
import type { ScanSource } from '../protocol.js';
import { readBatchesWhole } from '../shm/batch-seq.js';
import { listLsns, scanLsns } from '../shm/scan.js';
import type { SharedView } from '../shm/shared-view.js';
import type { ValueReader } from './types.js';

/**
 * Async reads answered on the calling thread, by probing the shared index as
 * getSync does: an attached thread's reads (it is already a worker thread, no
 * hop to a pool), and the opening thread's reads until its reader pool has a
 * thread ready (core/read-pool.ts). Values are copied out of shared memory,
 * never handed out as views of it, like the pool's.
 */
export class InlineReader implements ValueReader {
  private readonly scratch = new KeyScratch();

  constructor(private readonly view: SharedView) {}

  lookup(namespace: number, key: Key, _keyLen: number): Promise<Buffer | undefined> {
    const view = this.view;
    const len = this.scratch.encode(key);
    if (!view.lookupOne(namespace, this.scratch.bytes, 0, len)) return Promise.resolve(undefined);
    return Promise.resolve(copyValue(view));
  }

  lookupMany(namespace: number, keys: readonly Key[], _keyLens: readonly number[]): Promise<(Buffer | undefined)[]> {
    const view = this.view;
    const scratch = this.scratch;
    const out = new Array<Buffer | undefined>(keys.length);
    try {
      readBatchesWhole(view.ctl32, () => {
        view.sync();
        for (let i = 0; i < keys.length; i++) {
          const len = scratch.encode(keys[i]!);
          out[i] = view.lookup(namespace, scratch.bytes, 0, len) ? copyValue(view) : undefined;
        }
      });
    } catch (err) {
      return Promise.reject(err);
    }
    view.countReads(keys.length);
    return Promise.resolve(out);
  }

  scanList(source: ScanSource, from: number, count: number): Promise<Float64Array> {
    try {
      return Promise.resolve(listLsns(source, from, count));
    } catch (err) {
      return Promise.reject(this.view.closedInstead(err));
    }
  }

  scan(source: ScanSource, namespace: number, lsns: Float64Array, values: boolean): Promise<ArrayBuffer> {
    try {
      return Promise.resolve(scanLsns(source, namespace, lsns, values, this.view.now()));
    } catch (err) {
      return Promise.reject(this.view.closedInstead(err));
    }
  }

  async close(): Promise<void> {}
}

/** The value the view's last lookup found, copied out of shared memory. */
function copyValue(view: SharedView): Buffer {
  const out = Buffer.allocUnsafe(view.valueLen);
  out.set(view.valueU8.subarray(view.valueStart, view.valueStart + view.valueLen));
  return out;
}
