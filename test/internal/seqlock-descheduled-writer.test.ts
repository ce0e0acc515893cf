/**
 * A writer descheduled in the middle of a slot update (odd sequence) is not a
 * dead writer: a reader spinning on that slot waits for it (rule R2) and reads
 * the finished slot, however many spins that takes, and gives up with
 * ERR_EMDB_IO only after the slot has stayed locked for a second. The bound
 * used to be a spin count (~0.1 s of spinning), short enough for a loaded
 * machine to turn a preempted writer into an error.
 */
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { hashKey } from '../../dist/src/shm/hash.js';
import { IndexView, IndexWriter } from '../../dist/src/shm/index-table.js';
import { SLOT_BASE_WORDS, SLOT_WORDS, SlotWord, tagOf } from '../../dist/src/shm/layout.js';

const key = Buffer.from('slow-writer');
const hash = hashKey(0, key, 0, key.length);

describe('seqlock read while the writer is descheduled mid-slot', () => {
  it('waits out a 300 ms stall and reads the finished slot', async () => {
    const table = IndexWriter.allocate(16);
    const slot = tagOf(hash) & table.mask;
    const base = SLOT_BASE_WORDS + slot * SLOT_WORDS;
    // The "writer" on another thread: opens the slot, stalls 300 ms, writes it, closes it.
    Atomics.store(table.i32, base + SlotWord.SEQ, 1);
    const writer = new Worker(
      `const { workerData: w } = require('node:worker_threads');
       const i32 = new Int32Array(w.sab);
       Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
       Atomics.store(i32, w.base + w.TAG, w.tag);
       Atomics.store(i32, w.base + w.LSN_LO, 4096);
       Atomics.store(i32, w.base + w.LSN_HI, 0);
       Atomics.store(i32, w.base + w.SEQ, 2);`,
      { eval: true, workerData: { sab: table.i32.buffer, base, tag: tagOf(hash), TAG: SlotWord.TAG, LSN_LO: SlotWord.LSN_LO, LSN_HI: SlotWord.LSN_HI, SEQ: SlotWord.SEQ } },
    );
    await new Promise((r) => writer.once('online', r));
    const reader = new IndexView(table.i32.buffer as SharedArrayBuffer);
    const started = performance.now();
    expect(reader.readSlot(slot)).toBe(tagOf(hash));
    expect(reader.slotLsn).toBe(4096);
    expect(performance.now() - started).toBeGreaterThan(100);
    await writer.terminate();
  });
});
