/**
 * Corruption matrix, crash tails: 10,000 random tails (scaled) appended at a
 * unit boundary at or after the tail hint of a real image (test/model/images.ts,
 * the 'open' shape: copied while open after a flush). Zeros and garbage of
 * random sizes 1..70 KiB (log-uniform), tails that start with a valid record
 * magic, valid-looking record headers with a wrong CRC, copies of real records
 * (and of whole transactions) with one bit changed, torn record copies, a
 * transaction missing its commit, each optionally followed by a valid record
 * copy (which must be dropped too: nothing after the first bad record counts)
 * and zero or garbage padding. Every case must open, apply exactly the records
 * before the boundary (0 phantoms, 0 lost) and cut the file back to the boundary.
 *
 * The writer engine's open runs in-process over an in-memory file (thousands of
 * cases per second would need an idle machine; a few hundred per second is the
 * floor here); every 25th case also reads the whole served state back, and a
 * few go through Emdb.open on a real file. recovery-zero-tail.test.ts has the
 * hand-picked residue cases through Emdb.open; this is the random volume.
 * Negative controls: valid record copies as tails must be counted as phantoms,
 * and a recovery that does not truncate must be caught.
 */
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from '@node-rs/crc32';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffDbStates, readEngineState } from '../../dist/test/helpers/engine-state.js';
import type { ImageSpec } from '../../dist/test/helpers/fuzz-core.js';
import { Emdb, rmrf, scaled, tmpDir, TORTURE_FACTOR } from '../helpers/common.js';
import { DATA_START, HEADER, Kind, RECORD_MAGIC, rng } from '../helpers/log-image.js';
import { apiState, buildImages } from '../helpers/model/images.js';
import { MemoryFile, openInMemory } from '../helpers/model/memory-file.js';

const SEED = process.env.EMDB_SEED ? Number(process.env.EMDB_SEED) : TORTURE_FACTOR > 1 ? Date.now() % 0x7fffffff : 20261129;
const TAILS = scaled(10_000);
const MAX_TAIL = 70 * 1024;

type TailKind = 'zeros' | 'garbage' | 'magic then garbage' | 'header with a bad CRC' | 'record copy, one bit changed' | 'torn record copy' | 'transaction, commit damaged' | 'transaction, commit missing' | 'valid record copy';
const DAMAGED_KINDS: TailKind[] = ['zeros', 'garbage', 'magic then garbage', 'header with a bad CRC', 'record copy, one bit changed', 'torn record copy', 'transaction, commit damaged', 'transaction, commit missing'];

interface Tally {
  tried: number;
  phantoms: number;
  lost: number;
  notCut: number;
  refused: number;
  stateChecks: number;
  byKind: Map<TailKind, number>;
  failures: string[];
}

/** One random tail of `kind`, `size` bytes or a little more (structure first, then padding). */
function makeTail(spec: ImageSpec, kind: TailKind, size: number, r: () => number): Buffer {
  const int = (n: number) => Math.floor(r() * n);
  const noise = (n: number) => {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) out[i] = int(256);
    return out;
  };
  const records = spec.records;
  const copyOf = (i: number) => Buffer.from(spec.bytes.subarray(records[i]!.start, records[i]!.end));
  // Stand-alone puts and removes (not inside a transaction): a valid copy of one would apply on its own.
  const plain = records.map((x, i) => ({ ...x, i })).filter((x) => (x.kind === Kind.PUT || x.kind === Kind.TOMBSTONE) && spec.bytes[x.start + 9] === 0);
  const txUnits = records.map((x, i) => ({ ...x, i })).filter((x) => x.kind === Kind.TX_BEGIN);
  let head: Buffer;
  switch (kind) {
    case 'zeros':
      return Buffer.alloc(size);
    case 'garbage':
      return noise(size);
    case 'magic then garbage': {
      head = Buffer.alloc(4);
      head.writeUInt32LE(RECORD_MAGIC, 0);
      break;
    }
    case 'header with a bad CRC': {
      const keyLen = 1 + int(64);
      const valueLen = int(Math.max(1, Math.min(size, 20_000)));
      head = Buffer.concat([Buffer.alloc(HEADER), noise(keyLen + valueLen)]);
      head.writeUInt32LE(RECORD_MAGIC, 0);
      head[8] = 1 + int(7);
      head[9] = int(2) * 2;
      head.writeUInt32LE(keyLen, 16);
      head.writeUInt32LE(valueLen, 20);
      head.writeUInt32LE((crc32(head.subarray(8)) ^ (1 << int(32))) >>> 0, 4);
      break;
    }
    case 'record copy, one bit changed': {
      head = copyOf(plain[int(plain.length)]!.i);
      const bit = int(head.length * 8);
      head[bit >> 3]! ^= 1 << (bit & 7);
      break;
    }
    case 'torn record copy': {
      const rec = copyOf(plain[int(plain.length)]!.i);
      head = rec.subarray(0, 1 + int(rec.length - 1));
      break;
    }
    case 'transaction, commit damaged':
    case 'transaction, commit missing': {
      const begin = txUnits[int(txUnits.length)]!;
      let end = begin.i;
      while (records[end]!.kind !== Kind.TX_COMMIT) end++;
      const unit = Buffer.from(spec.bytes.subarray(begin.start, records[end]!.end));
      const commitAt = records[end]!.start - begin.start;
      if (kind === 'transaction, commit missing') head = unit.subarray(0, commitAt);
      else {
        head = unit;
        head[commitAt + 8 + int(head.length - commitAt - 8)]! ^= 1 << int(8);
      }
      break;
    }
    case 'valid record copy':
      head = copyOf(plain[int(plain.length)]!.i);
      break;
  }
  // Anything after the first bad record is residue, even a perfectly valid record.
  const after = kind !== 'valid record copy' && r() < 0.3 ? copyOf(plain[int(plain.length)]!.i) : Buffer.alloc(0);
  const padding = Math.max(0, size - head.length - after.length);
  return Buffer.concat([head, after, r() < 0.5 ? Buffer.alloc(padding) : noise(padding)]);
}

/** Unit boundaries at or after the tail hint: where a crash tail can begin. */
function boundaries(spec: ImageSpec): { at: number; units: number; records: number }[] {
  const out = [];
  for (let u = 0; u <= spec.unitEnds.length; u++) {
    const at = u === 0 ? DATA_START : spec.unitEnds[u - 1]!;
    if (at >= spec.tailHint) out.push({ at, units: u, records: spec.records.filter((x) => x.end <= at).length });
  }
  return out;
}

function liveKeys(spec: ImageSpec, units: number): number {
  return [...spec.states[units]!.values()].reduce((n, e) => n + e.size, 0);
}

function runTails(spec: ImageSpec, count: number, seed: number, kinds: TailKind[], io: MemoryFile, checkEvery = 25): Tally {
  const r = rng(seed);
  const spots = boundaries(spec);
  const tally: Tally = { tried: 0, phantoms: 0, lost: 0, notCut: 0, refused: 0, stateChecks: 0, byKind: new Map(), failures: [] };
  for (let i = 0; i < count; i++) {
    const spot = spots[Math.floor(r() * spots.length)]!;
    const kind = kinds[Math.floor(r() * kinds.length)]!;
    const size = Math.floor(Math.exp(r() * Math.log(MAX_TAIL))) + (r() < 0.5 ? 0 : 1);
    const tail = makeTail(spec, kind, Math.max(1, size), r);
    io.load(Buffer.concat([spec.bytes.subarray(0, spot.at), tail]));
    tally.tried++;
    tally.byKind.set(kind, (tally.byKind.get(kind) ?? 0) + 1);
    const problems: string[] = [];
    try {
      const engine = openInMemory(io);
      const walked = engine.recovery!;
      // The walk applies records in order: past the boundary is a phantom, short of it a loss.
      if (walked.end !== spot.at || walked.records !== spot.records) {
        if (walked.end > spot.at || walked.records > spot.records) tally.phantoms++;
        else tally.lost++;
        problems.push(`walk ended at ${walked.end} after ${walked.records} records`);
      }
      if (io.bytes.length !== spot.at) {
        tally.notCut++;
        problems.push(`file is ${io.bytes.length} bytes after open`);
      }
      if (engine.stats().records !== liveKeys(spec, spot.units)) problems.push(`${engine.stats().records} live keys`);
      if (i % checkEvery === 0) {
        tally.stateChecks++;
        const read = readEngineState(engine);
        const diff = diffDbStates(read.state, spec.states[spot.units]!);
        if (diff || read.problems.length > 0) problems.push(`served state: ${diff ?? read.problems.join('; ')}`);
      }
    } catch (err) {
      tally.refused++;
      problems.push(`open failed: ${(err as { code?: string }).code} ${String(err)}`);
    }
    if (problems.length > 0 && tally.failures.length < 10) tally.failures.push(`tail ${i} (${kind}, ${tail.length} B at ${spot.at}, want ${spot.records} records): ${problems.join('; ')}`);
  }
  return tally;
}

describe('corruption matrix: random crash tails after the tail hint', () => {
  let dir: string;
  let spec: ImageSpec;

  beforeAll(async () => {
    dir = tmpDir('emdb-tails-');
    spec = (await buildImages(dir))[0]!;
    expect(spec.name).toBe('open');
    expect(boundaries(spec).length, 'units after the tail hint to start tails at').toBeGreaterThan(4);
  });

  afterAll(() => rmrf(dir));

  it(`${TAILS} random tails: 0 phantom records, nothing lost, file cut to the last good record (seed ${SEED})`, () => {
    const started = Date.now();
    const tally = runTails(spec, TAILS, SEED, DAMAGED_KINDS, new MemoryFile());
    const kinds = [...tally.byKind].map(([k, n]) => `${k} ${n}`).join(', ');
    console.log(
      `[tails-matrix] seed ${SEED}: ${tally.tried} tails (1..${MAX_TAIL} B, at ${boundaries(spec).length} boundaries; ${kinds}): ` +
        `${tally.phantoms} phantoms, ${tally.lost} lost, ${tally.notCut} not cut, ${tally.refused} refused, ${tally.stateChecks} full state reads (${Date.now() - started} ms)`,
    );
    expect(tally.failures).toEqual([]);
    expect(tally.tried).toBe(TAILS);
  });

  it('a sample through Emdb.open on real files: exactly the records before the tail, file cut there', async () => {
    const r = rng(SEED ^ 0x5a5a);
    const spots = boundaries(spec);
    for (let i = 0; i < scaled(4); i++) {
      const spot = spots[i % spots.length]!;
      const kind = DAMAGED_KINDS[(i * 3) % DAMAGED_KINDS.length]!;
      const file = path.join(dir, `tail-${i}.emdb`);
      fs.writeFileSync(file, Buffer.concat([spec.bytes.subarray(0, spot.at), makeTail(spec, kind, 1 + Math.floor(r() * MAX_TAIL), r)]));
      const db = await Emdb.open(file, { readers: 1 });
      try {
        expect(fs.statSync(file).size, `${kind} at ${spot.at}`).toBe(spot.at);
        expect(diffDbStates(await apiState(db), spec.states[spot.units]!), `${kind} at ${spot.at}`).toBeUndefined();
      } finally {
        await db.close();
      }
    }
  });

  it('negative control: valid record copies as tails are counted as phantoms by the same harness', () => {
    const tally = runTails(spec, 200, SEED, ['valid record copy'], new MemoryFile(), 1);
    console.log(`[tails-matrix] control: ${tally.tried} valid record copies as tails → ${tally.phantoms} counted as phantoms`);
    expect(tally.phantoms).toBe(tally.tried);
  });

  it('planted defect: a recovery that does not cut the residue is caught', () => {
    const io = new MemoryFile();
    io.ftruncate = () => undefined;
    const tally = runTails(spec, 200, SEED, DAMAGED_KINDS, io);
    console.log(`[tails-matrix] planted (no truncation): ${tally.notCut}/${tally.tried} tails left in place`);
    expect(tally.notCut).toBe(tally.tried);
  });
});
