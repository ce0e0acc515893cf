import { describe, expect, it } from 'vitest';
import { RecordBuffer } from '../../dist/src/core/record-buffer.js';
import { RecordKind } from '../../dist/src/format/constants.js';

/**
 * A bulk call's record buffer starts small and doubles, but not past its
 * chunk size (`growTo`): a chunk that fills to just over the size gets a
 * buffer of about the size, not twice it; a record larger than the cap still fits whole.
 */
describe('RecordBuffer growth', () => {
  const value = new Uint8Array(100).fill(7);

  it('doubling stops at growTo: a buffer filled just past it is not doubled', () => {
    const records = new RecordBuffer(4096, 8192);
    let i = 0;
    while (records.len <= 8192) records.append(RecordKind.PUT, 0, `key-${i++}`, `key-${i - 1}`.length, value, 0);
    expect(records.buf.length).toBeGreaterThanOrEqual(records.len);
    expect(records.buf.length).toBeLessThan(16384);
  });

  it('a record larger than growTo still gets room, whole', () => {
    const records = new RecordBuffer(4096, 8192);
    const big = new Uint8Array(20000).fill(9);
    records.append(RecordKind.PUT, 0, 'big', 3, big, 0);
    expect(records.buf.length).toBeGreaterThanOrEqual(records.len);
    expect(records.len).toBeGreaterThan(20000);
    const { payload, bytes } = records.take();
    const stored = new Uint8Array(payload, 0, bytes);
    expect(stored.subarray(bytes - 20000).every((b) => b === 9)).toBe(true);
  });
});
