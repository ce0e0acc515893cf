/**
 * The incremental tombstone purge of the shared index (src/shm/index-rebuild.ts,
 * LogState.stepPurge): puts and removals made while the new table is being
 * copied, a few slots per step, must all be in it when it replaces the old one.
 * A fast-check model (key -> LSN of its last PUT) is compared with what a
 * reader finds in the published table after every operation and after every
 * swap; the published table is also checked to be the same object until the
 * purge completes (nothing is published half-built).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DATA_START, RECORD_HEADER_SIZE, RecordKind } from '../../dist/src/format/constants.js';
import { sealRecord } from '../../dist/src/format/record.js';
import type { LogState } from '../../dist/src/log/log-state.js';
import { hashKey } from '../../dist/src/shm/hash.js';
import { newInMemoryLog } from '../../dist/src/writer/open-log.js';

const KEYSPACE = 6000;
const PREFILL = 4000;

class Harness {
  readonly state: LogState = newInMemoryLog();
  readonly model = new Map<number, number>();
  /** newInMemoryLog wrote the file header; records follow it. */
  private end = DATA_START;
  swaps = 0;

  constructor() {
    this.state.incrementalPurge = true;
    this.state.onIndexReplaced = () => this.swaps++;
  }

  private append(kind: number, k: number): number {
    const key = Buffer.from(`key:${k}`);
    const valueLen = kind === RecordKind.PUT ? 8 : 0;
    const rec = new Uint8Array(RECORD_HEADER_SIZE + key.length + valueLen);
    rec.set(key, RECORD_HEADER_SIZE);
    sealRecord(rec, new DataView(rec.buffer), 0, kind as never, 0, 0, key.length, valueLen, 0);
    const lsn = this.end;
    this.state.mirror.reserve(lsn, rec.length);
    this.state.mirror.write(lsn, rec);
    this.end += rec.length;
    this.state.apply(lsn);
    return lsn;
  }

  put(k: number): void {
    this.model.set(k, this.append(RecordKind.PUT, k));
  }

  remove(k: number): void {
    this.append(RecordKind.TOMBSTONE, k);
    this.model.delete(k);
  }

  /** What a reader probing the published table finds for key k. */
  find(k: number): number {
    const key = Buffer.from(`key:${k}`);
    return this.state.index.find(this.state.mirror, 0, key, 0, key.length, hashKey(0, key, 0, key.length));
  }

  check(keys: Iterable<number>): void {
    for (const k of keys) expect(this.find(k), `key ${k}`).toBe(this.model.get(k) ?? -1);
  }

  checkAll(): void {
    this.check(Array.from({ length: KEYSPACE }, (_, k) => k));
    expect(this.state.index.live).toBe(this.model.size);
  }
}

type Op = { t: 'put'; k: number } | { t: 'remove'; k: number } | { t: 'removeRun'; from: number; n: number } | { t: 'step'; chunk: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant('put' as const), k: fc.nat(KEYSPACE - 1) }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('remove' as const), k: fc.nat(KEYSPACE - 1) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('removeRun' as const), from: fc.nat(KEYSPACE - 1), n: fc.integer({ min: 100, max: 1500 }) }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('step' as const), chunk: fc.integer({ min: 1, max: 2048 }) }) },
);

function run(ops: Op[]): Harness {
  const h = new Harness();
  for (let k = 0; k < PREFILL; k++) h.put(k);
  for (const op of ops) {
    const before = h.state.index;
    const swapsBefore = h.swaps;
    if (op.t === 'put') h.put(op.k);
    else if (op.t === 'remove') h.remove(op.k);
    else if (op.t === 'removeRun') for (let k = op.from; k < Math.min(KEYSPACE, op.from + op.n); k++) h.remove(k);
    else h.state.stepPurge(0, op.chunk);
    if (h.swaps !== swapsBefore) {
      // A swap publishes a complete table: every key as the model has it (tombstones only of removals made during the copy).
      expect(h.state.index).not.toBe(before);
      h.checkAll();
    } else if (op.t !== 'step') {
      h.check([op.t === 'removeRun' ? op.from : op.k]);
    }
  }
  // Finish the purge (if any) and compare everything once more.
  while (h.state.stepPurge(0, 4096));
  h.checkAll();
  return h;
}

describe('index purge in steps', () => {
  it('keeps every put and removal made while the new table is copied (model)', () => {
    let swaps = 0;
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 50, maxLength: 400 }), (ops) => {
        swaps += run(ops).swaps;
      }),
      { numRuns: 40, endOnFailure: true },
    );
    // The property exercised purges, not only writes.
    expect(swaps).toBeGreaterThan(5);
  });

  it('starts a purge instead of rebuilding inside the removal, and publishes only the finished table', () => {
    const h = new Harness();
    for (let k = 0; k < PREFILL; k++) h.put(k);
    const table = h.state.index;
    // Past a quarter of the capacity in tombstones: due, but the removal itself does not rebuild.
    let k = 0;
    while (!h.state.purging) h.remove(k++);
    expect(h.state.index).toBe(table);
    expect(h.swaps).toBe(0);
    // Writes between steps, in slots already copied and not yet copied.
    let steps = 0;
    while (h.state.stepPurge(0, 256)) {
      steps++;
      h.put(KEYSPACE - 1 - (steps % 500));
      h.remove(k++);
      expect(h.state.index).toBe(table);
    }
    expect(steps).toBeGreaterThan(8);
    expect(h.swaps).toBe(1);
    expect(h.state.index).not.toBe(table);
    expect(h.state.index.capacity).toBeLessThan(table.capacity);
    h.checkAll();
  });

  it('purges at once during recovery (incrementalPurge off): nobody would step it', () => {
    const h = new Harness();
    h.state.incrementalPurge = false;
    for (let k = 0; k < PREFILL; k++) h.put(k);
    const table = h.state.index;
    for (let k = 0; k < PREFILL - 100; k++) h.remove(k);
    expect(h.state.purging).toBe(false);
    expect(h.state.index).not.toBe(table);
    h.checkAll();
  });
});
