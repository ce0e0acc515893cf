import { KeyScratch, type Key } from '../keys.js';
import type { ScanSource } from '../protocol.js';
import { scanSlots } from '../shm/scan.js';
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
    const out = Buffer.allocUnsafe(view.valueLen);
    out.set(view.valueU8.subarray(view.valueStart, view.valueStart + view.valueLen));
    return Promise.resolve(out);
  }

  scan(source: ScanSource, namespace: number, from: number, count: number, values: boolean): Promise<ArrayBuffer> {
    return Promise.resolve(scanSlots(source, namespace, from, count, values, this.view.now()).packed);
  }

  async close(): Promise<void> {}
}
