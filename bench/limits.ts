/**
 * Machine limits measured in the same run as the stores, so every ratio in the
 * report is against this box on this day:
 *  - pread rate: 174-byte random reads (fs.readSync) from a page-cached 200 MB file
 *  - memcpy rate: 150-byte values copied out of a SharedArrayBuffer into new Buffers
 *  - fdatasync limit: 200-byte write into allocated (zero-written) space + fdatasync,
 *    no size change, 500 iterations (and, for information, the same appended)
 *  - sequential write bandwidth: 256 MB in 1 MiB writes + fsync
 * Run alone: node dist/bench/limits.js [--quick]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { MachineLimits } from './results.js';
import { isMain, log, mkTempDir, parseArgs, removeDir } from './util.js';
import { fillRandom, mulberry32, VALUE_BYTES } from './workload.js';

const MiB = 1 << 20;
const PREAD_BYTES = 174;
const APPEND_BYTES = 200;

interface LimitSizes {
  preadFileBytes: number;
  preads: number;
  copies: number;
  syncs: number;
  seqBytes: number;
}

const FULL: LimitSizes = { preadFileBytes: 200 * MiB, preads: 1_000_000, copies: 2_000_000, syncs: 500, seqBytes: 256 * MiB };
const QUICK: LimitSizes = { preadFileBytes: 64 * MiB, preads: 200_000, copies: 500_000, syncs: 100, seqBytes: 64 * MiB };

function randomChunk(): Buffer {
  const chunk = Buffer.allocUnsafe(MiB);
  fillRandom(mulberry32(42), chunk);
  return chunk;
}

/** Sequential write bandwidth: 1 MiB writes then one fsync, bytes per second. */
function sequentialWrite(dir: string, bytes: number): number {
  const file = path.join(dir, 'seq.bin');
  const chunk = randomChunk();
  const fd = fs.openSync(file, 'w');
  const t0 = performance.now();
  for (let written = 0; written < bytes; written += MiB) fs.writeSync(fd, chunk, 0, MiB);
  fs.fsyncSync(fd);
  const ms = performance.now() - t0;
  fs.closeSync(fd);
  fs.rmSync(file);
  return (bytes / ms) * 1000;
}

/** For information: 200-byte appends each followed by fdatasync, per second (the file grows). */
function fdatasyncRate(dir: string, iterations: number): number {
  const file = path.join(dir, 'sync.log');
  const record = Buffer.alloc(APPEND_BYTES, 0xab);
  const fd = fs.openSync(file, 'a');
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) {
    fs.writeSync(fd, record);
    fs.fdatasyncSync(fd);
  }
  const ms = performance.now() - t0;
  fs.closeSync(fd);
  return (iterations / ms) * 1000;
}

/** The fdatasync limit: 200-byte writes inside a zero-written file, each followed by fdatasync, per second. */
function fdatasyncOverwriteRate(dir: string, iterations: number): number {
  const file = path.join(dir, 'sync-overwrite.log');
  const record = Buffer.alloc(APPEND_BYTES, 0xcd);
  fs.writeFileSync(file, Buffer.alloc(iterations * APPEND_BYTES));
  const fd = fs.openSync(file, 'r+');
  fs.fsyncSync(fd);
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) {
    fs.writeSync(fd, record, 0, APPEND_BYTES, i * APPEND_BYTES);
    fs.fdatasyncSync(fd);
  }
  const ms = performance.now() - t0;
  fs.closeSync(fd);
  return (iterations / ms) * 1000;
}

/** 174-byte preads at random offsets of a file that is in the page cache, per second. */
function preadRate(dir: string, fileBytes: number, reads: number): number {
  const file = path.join(dir, 'pread.bin');
  const chunk = randomChunk();
  const fd = fs.openSync(file, 'w+');
  for (let pos = 0; pos < fileBytes; pos += MiB) fs.writeSync(fd, chunk, 0, MiB, pos);
  // Read it all once so every page is cached.
  for (let pos = 0; pos < fileBytes; pos += MiB) fs.readSync(fd, chunk, 0, MiB, pos);
  const buf = Buffer.allocUnsafe(PREAD_BYTES);
  const next = mulberry32(7);
  const span = fileBytes - PREAD_BYTES;
  const t0 = performance.now();
  for (let i = 0; i < reads; i++) fs.readSync(fd, buf, 0, PREAD_BYTES, next() % span);
  const ms = performance.now() - t0;
  fs.closeSync(fd);
  fs.rmSync(file);
  return (reads / ms) * 1000;
}

/**
 * 150-byte copies from random offsets of shared memory into fresh Buffers, per
 * second: the cost floor of a read that returns an owned copy of a value held in
 * shared memory (bench/get-sync.ts measures it beside getSync in one process).
 */
export function memcpyRate(copies: number): number {
  const sab = new SharedArrayBuffer(64 * MiB);
  const src = new Uint8Array(sab);
  fillRandom(mulberry32(9), src.subarray(0, MiB));
  for (let off = MiB; off < src.length; off += MiB) src.copyWithin(off, 0, MiB);
  const next = mulberry32(11);
  const span = src.length - VALUE_BYTES;
  let sink = 0;
  const t0 = performance.now();
  for (let i = 0; i < copies; i++) {
    const off = next() % span;
    const out = Buffer.allocUnsafe(VALUE_BYTES);
    out.set(src.subarray(off, off + VALUE_BYTES));
    sink += out[0]!;
  }
  const ms = performance.now() - t0;
  if (sink < 0) log('unreachable');
  return (copies / ms) * 1000;
}

export function measureLimits(quick: boolean): MachineLimits {
  const sizes = quick ? QUICK : FULL;
  const dir = mkTempDir('emdb-bench-limits-');
  try {
    log('limits: sequential write ...');
    const seqWriteBytesPerSec = sequentialWrite(dir, sizes.seqBytes);
    log('limits: fdatasync ...');
    const fdatasyncPerSec = fdatasyncRate(dir, sizes.syncs);
    const fdatasyncOverwritePerSec = fdatasyncOverwriteRate(dir, sizes.syncs);
    log('limits: pread ...');
    const preadPerSec = preadRate(dir, sizes.preadFileBytes, sizes.preads);
    log('limits: memcpy ...');
    const memcpyPerSec = memcpyRate(sizes.copies);
    return {
      preadPerSec,
      memcpyPerSec,
      fdatasyncPerSec,
      fdatasyncOverwritePerSec,
      seqWriteBytesPerSec,
      cpus: os.availableParallelism(),
      notes: [
        `pread: ${sizes.preads.toLocaleString('en-US')} × ${PREAD_BYTES} B from a page-cached ${sizes.preadFileBytes / MiB} MiB file (fs.readSync)`,
        `memcpy: ${sizes.copies.toLocaleString('en-US')} × ${VALUE_BYTES} B out of a SharedArrayBuffer into new Buffers`,
        `fdatasync (append, info only): ${sizes.syncs} × ${APPEND_BYTES} B append + fdatasync (file grows: its size is synced too)`,
        `fdatasync limit: ${sizes.syncs} × ${APPEND_BYTES} B written into allocated space (zeros written first) + fdatasync, no size change`,
        `sequential write: ${sizes.seqBytes / MiB} MiB in 1 MiB writes + fsync`,
        `temp dir: ${os.tmpdir()}`,
      ],
    };
  } finally {
    removeDir(dir);
  }
}

if (isMain(import.meta.url)) {
  const args = parseArgs(process.argv.slice(2));
  process.stdout.write(`${JSON.stringify(measureLimits(args.has('quick')), null, 2)}\n`);
}
