/**
 * Rule R2a (src/shm/layout.ts): a probe leaves a slot whose tag is not the
 * key's after loading SEQ and TAG, without waiting for the slot's seqlock; a
 * slot that carries the key's tag is still read under the seqlock (R2), so one
 * left mid-update by a dead writer is still reported instead of trusted.
 */
import { describe, expect, it } from 'vitest';
import { hashKey } from '../../dist/src/shm/hash.js';
import { IndexWriter } from '../../dist/src/shm/index-table.js';
import { SLOT_BASE_WORDS, SLOT_WORDS, SlotWord, tagOf } from '../../dist/src/shm/layout.js';
import { MirrorView } from '../../dist/src/shm/mirror.js';

const key = Buffer.from('probe-me');
const hash = hashKey(0, key, 0, key.length);

/** A 16-slot table whose home slot for `key` holds `tag` with an odd (writer mid-update) sequence. */
function tableWithLockedHomeSlot(tag: number): IndexWriter {
  const table = IndexWriter.allocate(16);
  const base = SLOT_BASE_WORDS + (tagOf(hash) & table.mask) * SLOT_WORDS;
  table.i32[base + SlotWord.SEQ] = 1;
  table.i32[base + SlotWord.TAG] = tag;
  return table;
}

describe('index probe past a slot the writer is changing', () => {
  it('passes a foreign slot left mid-update and finds nothing at the next empty slot', () => {
    const foreign = tagOf(hash ^ 0x0101_0000);
    expect(foreign).not.toBe(tagOf(hash));
    const table = tableWithLockedHomeSlot(foreign);
    // Without R2a the probe would spin on the odd sequence and fail with ERR_EMDB_IO.
    expect(table.find(new MirrorView([]), 0, key, 0, key.length, hash)).toBe(-1);
  });

  it('still refuses to trust a slot with the key\'s own tag left mid-update', () => {
    const table = tableWithLockedHomeSlot(tagOf(hash));
    expect(() => table.find(new MirrorView([]), 0, key, 0, key.length, hash)).toThrow(expect.objectContaining({ code: 'ERR_EMDB_IO' }));
  });
});
