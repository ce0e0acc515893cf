/**
 * Readers racing the writer's evictions (the bounded page cache, rules F1–F5):
 * with a cache of two frames every new log page evicts the previous one, and
 * two attached threads read, with getSync, values written in the last few
 * appends, which sit on exactly that page (values of 12,000 bytes: a new page
 * every five appends). Every value must be its key's
 * pattern, byte for byte. The same run with the reader's closing version check
 * planted away (`frame-no-version-check`) must return bytes of another page:
 * the check is what keeps a reader that raced an eviction from serving them.
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Emdb, FIXTURES, tempDirs } from '../helpers/common.js';

const RUN_MS = 3_000;
/** Value size: a new page every ~5 appends, and copies long enough to overlap a reassignment. */
const SIZE = 12_000;
/** Keys back from the newest a reader picks: 10 values span the previous page and the tail. */
const RECENT = 10;

interface ReaderReport {
  reads: number;
  found: number;
  bad: number;
}

async function race(dir: string, mutant: string | undefined): Promise<ReaderReport[]> {
  const saved = process.env.EMDB_TEST_MUTANT;
  // Worker threads take a copy of the environment when they start: the mutant reaches the readers only.
  if (mutant) process.env.EMDB_TEST_MUTANT = mutant;
  const db = await Emdb.open<Buffer>(path.join(dir, 'db.emdb'), { cacheSize: 2 * 65536, readers: 1 });
  const latest = new Int32Array(new SharedArrayBuffer(4));
  const workers: Worker[] = [];
  try {
    for (let t = 0; t < 2; t++) workers.push(new Worker(path.join(FIXTURES, 'eviction-reader.js'), { workerData: { handle: db.handle(), latest, ms: RUN_MS, recent: RECENT, size: SIZE } }));
  } finally {
    if (saved === undefined) delete process.env.EMDB_TEST_MUTANT;
    else process.env.EMDB_TEST_MUTANT = saved;
  }
  const reports = workers.map((w) => new Promise<ReaderReport>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  }));
  let stopped = false;
  const writing = (async () => {
    for (let i = 0; !stopped; i++) {
      const value = Buffer.alloc(SIZE);
      for (let j = 0; j < value.length; j++) value[j] = (i * 7 + j) & 0xff;
      await db.insert(`key-${i}`, value);
      Atomics.store(latest, 0, i);
    }
  })();
  try {
    return await Promise.all(reports);
  } finally {
    stopped = true;
    await writing;
    await db.close();
  }
}

describe('readers racing evictions', () => {
  const newDir = tempDirs('emdb-eviction-race-');

  it('never serve bytes of another page; a reader without the closing version check does', async () => {
    const sound = await race(newDir(), undefined);
    const planted = await race(newDir(), 'frame-no-version-check');
    const sum = (rs: ReaderReport[], k: keyof ReaderReport): number => rs.reduce((n, r) => n + r[k], 0);
    console.log(`[eviction-race] sound: ${sum(sound, 'reads')} reads, ${sum(sound, 'found')} found, ${sum(sound, 'bad')} wrong; planted: ${sum(planted, 'reads')} reads, ${sum(planted, 'found')} found, ${sum(planted, 'bad')} wrong`);
    expect(sum(sound, 'found')).toBeGreaterThan(1000);
    expect(sum(sound, 'bad')).toBe(0);
    expect(sum(planted, 'bad')).toBeGreaterThan(0);
  }, 60_000);
});
