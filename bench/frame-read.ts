/**
 * What a bounded page cache would cost a point read (issue 16, docs/DESIGN.md
 * "Bounded page cache: measured before building"), against today's whole-log
 * mirror, with the index probe left out (it is the same in every design):
 *  - mirror: the record at its LSN in one SharedArrayBuffer (today: zero-copy,
 *    the log bytes never move, so no check is needed);
 *  - frames: 64 KiB pages in frames of a fixed SharedArrayBuffer, a page table
 *    (page → frame) and a version word per frame read before and after the
 *    copy (a seqlock: a frame may be evicted and refilled by another thread);
 *    frames are placed in shuffled order, as an eviction policy leaves them;
 *    a record that crosses a page boundary is gathered into a scratch buffer;
 *  - pread: no cache in the process, one `fs.readSync` of the record from the
 *    OS page cache per read (what a miss costs in any cache design);
 *  - frames at a residency of 1/4: a page-table miss falls back to pread.
 * Each read compares the 24-byte key and copies the 150-byte value into a new
 * Buffer, as getSync does. Run: node dist/bench/frame-read.js [--records 1000000] [--reads 2000000] [--rounds 5]
 */
import fs from 'node:fs';
import path from 'node:path';
import { intArg, isMain, log, mkTempDir, parseArgs, removeDir } from './util.js';
import { mulberry32, pick } from './workload.js';

const KEY = 24;
const VALUE = 150;
/** keyLen u32, valueLen u32, key, value: the fields a read touches, no CRC. */
const RECORD = 8 + KEY + VALUE;
const PAGE_SHIFT = 16;
const PAGE = 1 << PAGE_SHIFT;

interface Setup {
  n: number;
  log: Uint8Array;
  keys: Uint8Array;
  file: string;
}

function build(n: number, dir: string): Setup {
  const rnd = mulberry32(7);
  const log = new Uint8Array(new SharedArrayBuffer(n * RECORD));
  const dv = new DataView(log.buffer);
  const keys = new Uint8Array(n * KEY);
  for (let i = 0; i < n; i++) {
    const at = i * RECORD;
    dv.setUint32(at, KEY, true);
    dv.setUint32(at + 4, VALUE, true);
    for (let j = 0; j < KEY + VALUE; j++) log[at + 8 + j] = rnd() & 0xff;
    keys.set(log.subarray(at + 8, at + 8 + KEY), i * KEY);
  }
  const file = path.join(dir, 'log');
  fs.writeFileSync(file, log);
  return { n, log, keys, file };
}

function sameKey(bytes: Uint8Array, at: number, keys: Uint8Array, k: number): boolean {
  for (let j = 0; j < KEY; j++) if (bytes[at + j] !== keys[k + j]) return false;
  return true;
}

/** A cache of `resident` of the log's pages in shuffled frames. */
class Frames {
  readonly table: Int32Array;
  readonly versions: Int32Array;
  readonly owner: Int32Array;
  readonly bytes: Uint8Array;
  readonly dv: DataView;
  private readonly scratch = new Uint8Array(RECORD);

  constructor(s: Setup, fraction: number, private readonly fd: number) {
    const pages = Math.ceil(s.log.length / PAGE);
    const frames = Math.max(1, Math.floor(pages * fraction));
    this.table = new Int32Array(new SharedArrayBuffer(pages * 4)).fill(-1);
    this.versions = new Int32Array(new SharedArrayBuffer(frames * 4));
    this.owner = new Int32Array(new SharedArrayBuffer(frames * 4)).fill(-1);
    this.bytes = new Uint8Array(new SharedArrayBuffer(frames * PAGE));
    this.dv = new DataView(this.bytes.buffer);
    const order = Array.from({ length: pages }, (_, p) => p);
    const rnd = mulberry32(11);
    for (let i = pages - 1; i > 0; i--) {
      const j = pick(rnd, i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    for (let f = 0; f < frames; f++) {
      const p = order[f]!;
      this.bytes.set(s.log.subarray(p * PAGE, Math.min(s.log.length, (p + 1) * PAGE)), f * PAGE);
      this.owner[f] = p;
      Atomics.store(this.table, p, f);
    }
  }

  /** The value of the record at `lsn` if its key matches, else undefined; gathers across pages, preads on a miss. */
  read(lsn: number, keys: Uint8Array, k: number): Buffer | undefined {
    for (;;) {
      const page = lsn >>> PAGE_SHIFT;
      const f = Atomics.load(this.table, page);
      if (f < 0 || (lsn & (PAGE - 1)) + RECORD > PAGE) return this.slow(lsn, keys, k);
      const v = Atomics.load(this.versions, f);
      if ((v & 1) !== 0 || this.owner[f] !== page) continue;
      const at = f * PAGE + (lsn & (PAGE - 1));
      const keyLen = this.dv.getUint32(at, true);
      const valueLen = this.dv.getUint32(at + 4, true);
      const hit = keyLen === KEY && sameKey(this.bytes, at + 8, keys, k);
      const out = hit ? Buffer.from(this.bytes.subarray(at + 8 + keyLen, at + 8 + keyLen + valueLen)) : undefined;
      if (Atomics.load(this.versions, f) === v) return out;
    }
  }

  private slow(lsn: number, keys: Uint8Array, k: number): Buffer | undefined {
    // A miss or a record across two pages: one pread of the record (a real cache would gather from two frames).
    fs.readSync(this.fd, this.scratch, 0, RECORD, lsn);
    const dv = new DataView(this.scratch.buffer);
    if (dv.getUint32(0, true) !== KEY || !sameKey(this.scratch, 8, keys, k)) return undefined;
    return Buffer.from(this.scratch.subarray(8 + KEY, 8 + KEY + dv.getUint32(4, true)));
  }
}

type Reader = (lsn: number, k: number) => Buffer | undefined;

function time(s: Setup, reads: number, read: Reader, seed: number): number {
  const rnd = mulberry32(seed);
  let found = 0;
  const t0 = performance.now();
  for (let r = 0; r < reads; r++) {
    const i = pick(rnd, s.n);
    if (read(i * RECORD, i * KEY) !== undefined) found++;
  }
  const ns = ((performance.now() - t0) * 1e6) / reads;
  if (found !== reads) throw new Error(`only ${found} of ${reads} reads found their key`);
  return ns;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export function frameRead(records: number, reads: number, rounds: number): Record<string, number> {
  const dir = mkTempDir('emdb-frame-read-');
  try {
    const s = build(records, dir);
    const fd = fs.openSync(s.file, 'r');
    const mirrorDv = new DataView(s.log.buffer);
    const scratch = new Uint8Array(RECORD);
    const scratchDv = new DataView(scratch.buffer);
    const all = new Frames(s, 1, fd);
    const quarter = new Frames(s, 0.25, fd);
    const readers: Record<string, Reader> = {
      mirror: (lsn, k) => {
        const keyLen = mirrorDv.getUint32(lsn, true);
        if (keyLen !== KEY || !sameKey(s.log, lsn + 8, s.keys, k)) return undefined;
        return Buffer.from(s.log.subarray(lsn + 8 + keyLen, lsn + 8 + keyLen + mirrorDv.getUint32(lsn + 4, true)));
      },
      frames: (lsn, k) => all.read(lsn, s.keys, k),
      pread: (lsn, k) => {
        fs.readSync(fd, scratch, 0, RECORD, lsn);
        if (scratchDv.getUint32(0, true) !== KEY || !sameKey(scratch, 8, s.keys, k)) return undefined;
        return Buffer.from(scratch.subarray(8 + KEY, 8 + KEY + scratchDv.getUint32(4, true)));
      },
      'frames, 1/4 resident': (lsn, k) => quarter.read(lsn, s.keys, k),
    };
    const samples: Record<string, number[]> = {};
    for (let round = 0; round < rounds; round++) {
      for (const [name, read] of Object.entries(readers)) (samples[name] ??= []).push(time(s, reads, read, 100 + round));
    }
    fs.closeSync(fd);
    return Object.fromEntries(Object.entries(samples).map(([name, xs]) => [name, median(xs)]));
  } finally {
    removeDir(dir);
  }
}

if (isMain(import.meta.url)) {
  const args = parseArgs(process.argv.slice(2));
  const records = intArg(args, 'records', 1_000_000);
  const reads = intArg(args, 'reads', 2_000_000);
  const rounds = intArg(args, 'rounds', 5);
  log(`frame-read: ${records} records of ${RECORD} bytes, ${reads} random reads × ${rounds} rounds (median ns per read)`);
  const res = frameRead(records, reads, rounds);
  const base = res.mirror!;
  for (const [name, ns] of Object.entries(res)) log(`  ${name.padEnd(22)} ${ns.toFixed(0).padStart(6)} ns  (${(ns / base).toFixed(2)}× mirror)`);
}
