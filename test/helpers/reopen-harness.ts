/**
 * Helpers for test/fast-reopen.test.ts: a seeded workload over namespaces
 * (puts, removes, transactions, clear, drop) appended through the writer engine
 * on this thread, its model, and what a reopen recovered (contents as readers
 * see them, per-namespace counts, logical stats, how the open went).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { crc32 } from '@node-rs/crc32';
import { expect } from 'vitest';
import { RecordBuffer } from '../../dist/src/core/record-buffer.js';
import { scanSlots, unpackScan } from '../../dist/src/shm/scan.js';
import { RecordKind } from '../../dist/src/format/constants.js';
import { IndexView } from '../../dist/src/shm/index-table.js';
import type { WriterEngine } from '../../dist/src/writer/engine.js';
import { DATA_START, SLOT_A, SLOT_B, SLOT_CRC, SLOT_FLAG_PREFIX_CRC, SLOT_FLAGS, SLOT_MAGIC, SLOT_PREFIX_CRC, SLOT_TAIL_HINT, rng, withInProcessEngine } from './log-image.js';

export type Op =
  | { t: 'put'; ns: string; k: string; v: string }
  | { t: 'del'; ns: string; k: string }
  | { t: 'clear'; ns: string }
  | { t: 'drop'; ns: string }
  | { t: 'tx'; ops: Op[] };

/** Namespace name → key → value; '' is the default namespace. */
export type Model = Map<string, Map<string, string>>;

export const NAMESPACES = ['', 'users', 'orders', 'tmp'];
export const sha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

export function nsId(engine: WriterEngine, name: string): number {
  return name === '' ? 0 : engine.namespace(name, true);
}

/** Appends `ops` through the engine, as the API would frame them, and applies them to `model`. */
export function run(engine: WriterEngine, model: Model, ops: Op[]): void {
  for (const op of ops) {
    if (op.t === 'drop') {
      engine.dropNamespace(op.ns);
      model.delete(op.ns);
      continue;
    }
    const records = new RecordBuffer();
    const frame = (o: Op): void => {
      if (o.t === 'tx' || o.t === 'drop') throw new Error('not framed here');
      const id = nsId(engine, o.ns);
      const keys = model.get(o.ns) ?? new Map<string, string>();
      model.set(o.ns, keys);
      if (o.t === 'put') {
        records.append(RecordKind.PUT, id, o.k, Buffer.byteLength(o.k), o.v, 0);
        keys.set(o.k, o.v);
      } else if (o.t === 'del') {
        records.append(RecordKind.TOMBSTONE, id, o.k, Buffer.byteLength(o.k), null, 0);
        keys.delete(o.k);
      } else {
        records.append(RecordKind.CLEAR, id, null, 0, null, 0);
        keys.clear();
      }
    };
    if (op.t === 'tx') {
      for (const o of op.ops) if (o.t !== 'tx' && o.t !== 'drop') nsId(engine, o.ns); // namespaces exist before the batch
      records.beginTx();
      op.ops.forEach(frame);
      records.commitTx();
    } else {
      frame(op);
    }
    const { payload, bytes, count } = records.take();
    engine.append(new Uint8Array(payload, 0, bytes), false, count);
  }
}

/** A seeded mix of puts, overwrites, removes, transactions, a clear and a namespace drop. */
export function workload(seed: number, n: number): Op[] {
  const random = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const key = () => `k${Math.floor(random() * 400)}`;
  const value = () => `v${Math.floor(random() * 1e9).toString(36)}`.padEnd(8 + Math.floor(random() * 300), '.');
  const ops: Op[] = [];
  for (let i = 0; i < n; i++) {
    const r = random();
    const ns = pick(NAMESPACES);
    if (r < 0.6) ops.push({ t: 'put', ns, k: key(), v: value() });
    else if (r < 0.8) ops.push({ t: 'del', ns, k: key() });
    else if (r < 0.97) ops.push({ t: 'tx', ops: Array.from({ length: 1 + Math.floor(random() * 6) }, () => ({ t: 'put' as const, ns: pick(NAMESPACES), k: key(), v: value() })) });
    else if (r < 0.985) ops.push({ t: 'clear', ns: 'tmp' });
    else ops.push({ t: 'drop', ns: 'tmp' });
  }
  return ops;
}

/** Every namespace's contents as readers see them (iteration over the shared index and mirror). */
export function dump(engine: WriterEngine): Model {
  const set = engine.currentBuffers();
  const capacity = new IndexView(set.index).capacity;
  const out: Model = new Map();
  for (const name of ['', ...engine.namespaceNames()]) {
    const id = name === '' ? 0 : engine.namespace(name, false);
    const keys = new Map<string, string>();
    for (const [k, v] of unpackScan(scanSlots(set, id, 0, capacity, true, Date.now()).packed)) keys.set(k.toString(), v.toString());
    expect(engine.count(id), `count of namespace '${name}'`).toBe(keys.size);
    if (keys.size > 0 || name !== '') out.set(name, keys);
  }
  return out;
}

export function normalized(model: Model): [string, [string, string][]][] {
  return [...model].filter(([name, keys]) => name !== '' || keys.size > 0).map(([name, keys]) => [name, [...keys].sort()] as [string, [string, string][]]).sort();
}

/** The logical stats that must not depend on how the index was rebuilt. */
export function logicalStats(engine: WriterEngine) {
  const s = engine.stats();
  return { records: s.records, liveBytes: s.liveBytes, deadBytes: s.deadBytes, fileBytes: s.fileBytes, namespaces: s.namespaces, tailHint: s.tailHint, lastCheckpointAt: s.lastCheckpointAt };
}

export interface Opened {
  mode: string | undefined;
  records: number | undefined;
  from: number | undefined;
  prefixVerified: boolean | undefined;
  state: ReturnType<typeof normalized>;
  stats: ReturnType<typeof logicalStats>;
  /** Id the next new namespace gets (ids of dropped namespaces are never reused). */
  nextNamespace: number;
}

/** The id the next new namespace would get; read, not created, so the file is not written. */
export function nextNamespaceId(engine: WriterEngine): number {
  return engine.nextNamespaceId;
}

/** Opens in-process, reads everything back, and drops the engine without closing it (nothing written). */
export function openAndRead(file: string): Opened {
  return withInProcessEngine(file, (engine) => {
    const r = engine.recovery!;
    return {
      mode: r.mode,
      records: r.records,
      from: r.from,
      prefixVerified: r.prefixVerified,
      state: normalized(dump(engine)),
      stats: logicalStats(engine),
      nextNamespace: nextNamespaceId(engine),
    };
  });
}

export function failureOf(file: string): { code?: string; offset?: number } | undefined {
  try {
    withInProcessEngine(file, () => undefined);
    return undefined;
  } catch (err) {
    return err as { code?: string; offset?: number };
  }
}

/** Rewrites the prefix CRC of both header slots for the bytes now in the log, and reseals them. */
export function resealSlots(image: Buffer): void {
  for (const slot of [SLOT_A, SLOT_B]) {
    if (image.readUInt32LE(slot) !== SLOT_MAGIC) continue;
    if ((image.readUInt32LE(slot + SLOT_FLAGS) & SLOT_FLAG_PREFIX_CRC) !== 0) {
      const tail = Number(image.readBigUInt64LE(slot + SLOT_TAIL_HINT));
      image.writeUInt32LE(crc32(image.subarray(DATA_START, tail)), slot + SLOT_PREFIX_CRC);
    }
    image.writeUInt32LE(crc32(image.subarray(slot, slot + SLOT_CRC)), slot + SLOT_CRC);
  }
}
