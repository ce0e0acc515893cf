/**
 * Where a durable single write's time goes, in one run, so every ratio is
 * against this disk on this day:
 *  - limit: a 200-byte write into already-allocated space (written zeros) +
 *    fdatasync, no size change: the "fdatasync limit";
 *  - grow: the same write appended at the end of the file (size changes, so
 *    fdatasync also commits the inode: a journal commit on ext4);
 *  - fallocated: the same write into space reserved with `fallocate` (unwritten
 *    extents: the first write to each block converts it, a metadata change);
 *  - emdb-js: onEachFlush, N × (await insert, await flush) on the opening thread;
 *  - better-sqlite3: WAL + synchronous=FULL, N autocommitted INSERTs.
 * The contenders take turns in rounds (iterations / rounds writes each per
 * round) so that a noisy neighbour's burst hits all of them; each rate is the
 * median of its rounds. Ratios emdb/limit and emdb/better-sqlite3 are printed,
 * and emdb-js's own fdatasync time (stats().syncMs) shows what its round trips add.
 * Run alone: node dist/bench/durable-single.js [--iterations 1000] [--rounds 5]
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type DatabaseType from 'better-sqlite3';
import { loadEmdb } from './adapters/emdb-js.js';
import { errorMessage, intArg, isMain, log, mkTempDir, parseArgs, removeDir } from './util.js';
import { freshEntries, mulberry32 } from './workload.js';

const WRITE_BYTES = 200;

export interface DurableSingle {
  iterations: number;
  rounds: number;
  /** Writes per second (median of the rounds). */
  limitPerSec: number;
  growPerSec: number;
  fallocatedPerSec: number | null;
  emdbPerSec: number;
  /** emdb-js with insert and flush issued in the same tick (one message to the writer). */
  emdbSameTickPerSec: number;
  betterSqlite3PerSec: number | null;
  /** emdb-js's own fdatasync, as its stats() time it: the rest of a write is round trips and CPU. */
  emdbSyncMsPerFlush: number;
  /** Every round's rate per contender, to show the spread on a shared machine. */
  roundRates: Record<string, number[]>;
  ratios: { emdbVsLimit: number; emdbVsBetterSqlite3: number | null; growVsLimit: number; fallocatedVsLimit: number | null };
  notes: string[];
}

interface Contender {
  name: string;
  /** Runs writes [from, from + n) durably. */
  run(from: number, n: number): Promise<void> | void;
  close(): Promise<void> | void;
}

/** 200-byte writes + fdatasync at i × 200 in a file prepared by `prepare` (which it then syncs). */
function fileContender(name: string, file: string, prepare: (fd: number) => void): Contender {
  const record = Buffer.alloc(WRITE_BYTES, 0xab);
  const fd = fs.openSync(file, 'w+');
  prepare(fd);
  fs.fsyncSync(fd);
  return {
    name,
    run(from, n) {
      for (let i = from; i < from + n; i++) {
        fs.writeSync(fd, record, 0, WRITE_BYTES, i * WRITE_BYTES);
        fs.fdatasyncSync(fd);
      }
    },
    close() {
      fs.closeSync(fd);
      fs.rmSync(file, { force: true });
    },
  };
}

function zeroFill(fd: number, bytes: number): void {
  const zeros = Buffer.alloc(1 << 20);
  for (let at = 0; at < bytes; at += zeros.length) fs.writeSync(fd, zeros, 0, Math.min(zeros.length, bytes - at), at);
}

/** `fallocate` has no Node binding; the util-linux command reserves the same unwritten extents. */
function fallocated(dir: string, iterations: number): Contender | null {
  const file = path.join(dir, 'fallocated.bin');
  try {
    return fileContender('fallocated', file, (fd) => {
      execFileSync('fallocate', ['-l', String(iterations * WRITE_BYTES + (1 << 20)), file], { stdio: 'ignore' });
      if (fs.fstatSync(fd).size === 0) throw new Error('fallocate reserved nothing');
    });
  } catch (err) {
    log(`durable single: fallocate not measured (${errorMessage(err)})`);
    return null;
  }
}

/**
 * better-sqlite3 set up for durable single writes (WAL, synchronous=FULL, one
 * autocommitted INSERT OR REPLACE per write), or null when the peer is not
 * installed. Shared with thread-floor.ts.
 */
export function sqliteDurableInserter(file: string, who: string): { insert: (key: Uint8Array, value: Uint8Array) => void; close: () => void } | null {
  let Database: typeof DatabaseType;
  try {
    const peers = createRequire(new URL('../../bench/peers/package.json', import.meta.url));
    Database = peers('better-sqlite3') as typeof DatabaseType;
  } catch (err) {
    log(`${who}: better-sqlite3 not installed (npm run bench:install): ${errorMessage(err)}`);
    return null;
  }
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE kv (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID');
  const stmt = db.prepare('INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)');
  return { insert: (key, value) => void stmt.run(key, value), close: () => void db.close() };
}

function betterSqlite3(dir: string, iterations: number): Contender | null {
  const sqlite = sqliteDurableInserter(path.join(dir, 'single.sqlite'), 'durable single');
  if (!sqlite) return null;
  const entries = freshEntries(mulberry32(5), iterations);
  return {
    name: 'better-sqlite3',
    run(from, n) {
      for (let i = from; i < from + n; i++) sqlite.insert(...entries[i]!);
    },
    close: sqlite.close,
  };
}

async function emdb(dir: string, iterations: number): Promise<{ awaited: Contender; sameTick: Contender; syncMsPerFlush: () => Promise<number> }> {
  const Emdb = await loadEmdb();
  const db = await Emdb.open(path.join(dir, 'single.emdb'), { flushPolicy: { kind: 'onEachFlush' }, readers: 1 });
  const entries = freshEntries(mulberry32(4), iterations * 2);
  let closed = false;
  const close = async (): Promise<void> => {
    if (!closed) await db.close();
    closed = true;
  };
  return {
    awaited: {
      name: 'emdb-js',
      async run(from, n) {
        for (let i = from; i < from + n; i++) {
          await db.insert(...entries[i]!);
          await db.flush();
        }
      },
      close,
    },
    sameTick: {
      name: 'emdb-js same tick',
      async run(from, n) {
        for (let i = from; i < from + n; i++) await Promise.all([db.insert(...entries[iterations + i]!), db.flush()]);
      },
      close,
    },
    syncMsPerFlush: async () => {
      const s = (await (db as unknown as { stats(): Promise<{ syncs?: number; syncMs?: number }> }).stats());
      return s.syncs ? (s.syncMs ?? 0) / s.syncs : 0;
    },
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export async function durableSingle(iterations: number, rounds: number): Promise<DurableSingle> {
  const dir = mkTempDir('emdb-bench-single-');
  const per = Math.max(1, Math.floor(iterations / rounds));
  try {
    const span = per * rounds * WRITE_BYTES + (1 << 20);
    const limit = fileContender('limit', path.join(dir, 'limit.bin'), (fd) => zeroFill(fd, span));
    const grow = fileContender('grow', path.join(dir, 'grow.bin'), () => undefined);
    const falloc = fallocated(dir, per * rounds);
    const e = await emdb(dir, per * rounds);
    const sqlite = betterSqlite3(dir, per * rounds);
    const all = [limit, grow, falloc, e.awaited, e.sameTick, sqlite].filter((c): c is Contender => c !== null);
    const rates = new Map<string, number[]>(all.map((c) => [c.name, []]));
    try {
      for (let r = 0; r < rounds; r++) {
        log(`durable single: round ${r + 1} of ${rounds} (${per} writes each) ...`);
        for (const c of all) {
          const t0 = performance.now();
          await c.run(r * per, per);
          rates.get(c.name)!.push((per / (performance.now() - t0)) * 1000);
        }
      }
    } finally {
      const syncMs = await e.syncMsPerFlush().catch(() => 0);
      for (const c of all) await c.close();
      rates.set('syncMs', [syncMs]);
    }
    const rateOf = (c: Contender | null): number | null => (c ? median(rates.get(c.name)!) : null);
    const limitPerSec = rateOf(limit)!;
    const growPerSec = rateOf(grow)!;
    const fallocatedPerSec = rateOf(falloc);
    const emdbPerSec = rateOf(e.awaited)!;
    const betterSqlite3PerSec = rateOf(sqlite);
    const round = (x: number): number => Math.round(x * 100) / 100;
    return {
      iterations: per * rounds,
      rounds,
      limitPerSec,
      growPerSec,
      fallocatedPerSec,
      emdbPerSec,
      emdbSameTickPerSec: rateOf(e.sameTick)!,
      betterSqlite3PerSec,
      emdbSyncMsPerFlush: round(rates.get('syncMs')![0]!),
      roundRates: Object.fromEntries([...rates].filter(([k]) => k !== 'syncMs').map(([k, v]) => [k, v.map(Math.round)])),
      ratios: {
        emdbVsLimit: round(emdbPerSec / limitPerSec),
        emdbVsBetterSqlite3: betterSqlite3PerSec === null ? null : round(emdbPerSec / betterSqlite3PerSec),
        growVsLimit: round(growPerSec / limitPerSec),
        fallocatedVsLimit: fallocatedPerSec === null ? null : round(fallocatedPerSec / limitPerSec),
      },
      notes: [
        `${per * rounds} × ${WRITE_BYTES} B writes per contender, each followed by fdatasync, in ${rounds} interleaved rounds; medians of the rounds`,
        'emdb-js: onEachFlush, await insert then await flush, opening thread (same tick: Promise.all of both)',
        'better-sqlite3: WAL, synchronous=FULL, one autocommitted INSERT OR REPLACE per write',
      ],
    };
  } finally {
    removeDir(dir);
  }
}

if (isMain(import.meta.url)) {
  const args = parseArgs(process.argv.slice(2));
  const result = await durableSingle(intArg(args, 'iterations', 1000), intArg(args, 'rounds', 5));
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`, () => process.exit(0));
}
