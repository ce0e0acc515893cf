/**
 * Judging a database image left by a killed writer: recover it with the writer's
 * own open code on this thread (no worker start per check), read every key the
 * way getSync does (shared index + mirror), and explain the result as the model
 * after some prefix of the child's operation sequence.
 */
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import { nodeFileIO, type FileIO } from '../../dist/src/log/file-io.js';
import { createControlBlock, SharedView } from '../../dist/src/shm/shared-view.js';
import { WriterEngine } from '../../dist/src/writer/engine.js';
import { applyOp, parseValue, type CrashOp } from './crash-ops.js';
import { sortedProblems } from './sim/sorted-check.js';

export interface Recovered {
  /** Served value per key (latin1), for the keys asked about. */
  values: Map<string, string>;
  /** Live keys the writer counts after recovery (to catch phantom keys). */
  live: number;
  /** Bytes of crash residue recovery cut off the end (a torn tail). */
  residue: number;
  /**
   * With `rangeScans`: how the recovered sorted index differs from the hash
   * index (keys out of order, a removed key still listed, a live key or a value
   * missing); empty when they agree. `keys` must then name every key the
   * workload can write.
   */
  sortedProblems: string[];
  /** With `rangeScans`: where recovery got the sorted index (the snapshot's sorted section, or a rebuild). */
  sortedFrom: string | null;
}

/**
 * Recovers a copy of `file` (so the original stays a crashed image for the next
 * child to recover itself) and reads `keys` from the recovered shared state.
 * Throws what open throws (e.g. ERR_EMDB_CORRUPTION).
 */
export function recoverCopy(file: string, keys: readonly string[], opts: { rangeScans?: boolean; encryption?: { key: Uint8Array } } = {}): Recovered {
  const copy = `${file}.check-${process.pid}`;
  fs.copyFileSync(file, copy);
  // With rangeScans the index snapshot comes along, so recovery also takes the path that loads its sorted section and replays after it.
  const snapshot = `${file}.index`;
  if (opts.rangeScans && fs.existsSync(snapshot)) fs.copyFileSync(snapshot, `${copy}.index`);
  const crashedSize = fs.statSync(copy).size;
  // The copy is thrown away: skip its syncs, which would stall this thread (and the other lane's kill timers).
  const fds = new Set<number>();
  const io: FileIO = {
    ...nodeFileIO,
    open: (f, flags, like) => {
      const fd = nodeFileIO.open(f, flags, like);
      fds.add(fd);
      return fd;
    },
    // Open closes what it only read (the snapshot): only what it keeps is closed at the end.
    close: (fd) => {
      fds.delete(fd);
      nodeFileIO.close(fd);
    },
    fdatasync: () => undefined,
    fsyncDir: () => undefined,
  };
  const rangeScans = opts.rangeScans ? { rangeScans: { maxAgeMs: 0, maxPinnedBytes: 0 } } : {};
  const sealed = opts.encryption ? { encryption: opts.encryption } : {};
  const engine = new WriterEngine({ path: copy, flushPolicy: { kind: 'onEachFlush' }, io, control: createControlBlock(), publish: () => undefined, ...rangeScans, ...sealed });
  try {
    engine.open();
    const set = engine.currentBuffers();
    const view = new SharedView(createControlBlock(), `emdb-check:${randomUUID()}`, set);
    const values = new Map<string, string>();
    let sorted: string[] = [];
    try {
      for (const key of keys) {
        const bytes = Buffer.from(key);
        if (view.lookup(0, bytes, 0, bytes.length)) {
          values.set(key, Buffer.from(view.valueU8.subarray(view.valueStart, view.valueStart + view.valueLen)).toString('latin1'));
        }
      }
      if (opts.rangeScans) sorted = sortedProblems(set, view.mirror!, values);
    } finally {
      view.close();
    }
    const stats = engine.stats();
    return { values, live: stats.records, residue: crashedSize - stats.fileBytes, sortedProblems: sorted, sortedFrom: stats.sortedIndex?.loadedFrom ?? null };
  } finally {
    for (const fd of fds) nodeFileIO.close(fd);
    fs.rmSync(copy, { force: true });
    fs.rmSync(`${copy}.index`, { force: true });
  }
}

export function sameState(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

/**
 * The smallest j >= mustInclude such that applying ops[0, j) to `base` gives
 * `actual`, or undefined when no such prefix explains what was recovered.
 */
export function explainingPrefix(base: ReadonlyMap<string, string>, ops: readonly CrashOp[], mustInclude: number, actual: ReadonlyMap<string, string>): number | undefined {
  const model = new Map(base);
  for (let i = 0; i < mustInclude; i++) applyOp(model, ops[i]!);
  for (let j = mustInclude; ; j++) {
    if (sameState(model, actual)) return j;
    if (j >= ops.length) return undefined;
    applyOp(model, ops[j]!);
  }
}

export type Verdict =
  | { ok: true; prefix: number }
  | { ok: false; kind: 'corrupt' | 'partial insertMany' | 'lost acknowledged' | 'unexplained'; detail: string };

/**
 * Explains `actual` as base + ops[0, j) with j > lastAck; when it cannot, says
 * why, most specific first: a served value that was never written to its key
 * (corrupt or foreign), part of an insertMany chunk, or an acknowledged op missing.
 */
export function judge(base: ReadonlyMap<string, string>, ops: readonly CrashOp[], lastAck: number, actual: ReadonlyMap<string, string>): Verdict {
  const j = explainingPrefix(base, ops, lastAck + 1, actual);
  if (j !== undefined) return { ok: true, prefix: j };
  const written = new Map<string, Set<string>>();
  const note = (k: string, v: string) => (written.get(k) ?? written.set(k, new Set()).get(k)!).add(v);
  for (const [k, v] of base) note(k, v);
  for (const op of ops) {
    if (op.kind === 'put') note(op.key, op.value);
    else if (op.kind === 'many') for (const [k, v] of op.entries) note(k, v);
  }
  for (const [k, v] of actual) {
    if (!written.get(k)?.has(v)) {
      const named = parseValue(v);
      return { ok: false, kind: 'corrupt', detail: `${k.slice(0, 12)} = ${named ? JSON.stringify(named) : 'malformed'} (${v.length} bytes), never written to this key` };
    }
  }
  // Every value is a real one: is the state a prefix plus part of one chunk?
  const model = new Map(base);
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    if (op.kind === 'many' && isPartialChunk(model, op.entries, actual)) {
      return { ok: false, kind: 'partial insertMany', detail: `op ${i}: some of its ${op.entries.length} entries applied, not all` };
    }
    applyOp(model, op);
  }
  const earlier = explainingPrefix(base, ops, 0, actual);
  if (earlier !== undefined) return { ok: false, kind: 'lost acknowledged', detail: `state is the prefix of ${earlier} ops, but op ${lastAck} was acknowledged` };
  return { ok: false, kind: 'unexplained', detail: 'no prefix of the op sequence matches' };
}

/**
 * True when `actual` is `before` with some, but not all, of `entries` applied:
 * every other key as before, each chunk key either as before or as the chunk
 * set it, and at least one entry of each kind among those that change something.
 */
function isPartialChunk(before: ReadonlyMap<string, string>, entries: readonly (readonly [string, string])[], actual: ReadonlyMap<string, string>): boolean {
  const chunk = new Map(entries);
  let applied = 0;
  let missing = 0;
  for (const [k, v] of chunk) {
    if (before.get(k) === v) continue; // changes nothing: tells nothing
    if (actual.get(k) === v) applied++;
    else if (actual.get(k) === before.get(k)) missing++;
    else return false;
  }
  if (applied === 0 || missing === 0) return false;
  for (const k of new Set([...before.keys(), ...actual.keys()])) {
    if (!chunk.has(k) && before.get(k) !== actual.get(k)) return false;
  }
  return true;
}
