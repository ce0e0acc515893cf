/**
 * Memory with the bounded page cache (OpenOptions.cacheSize): resident memory
 * must follow cacheSize, not the file. The same workload runs twice, each in a
 * child process of its own (fixtures/cache-memory-child.ts) so RSS is the
 * database's alone: a load of ~90 MB of log, a read of every key, removal of
 * half and a compaction, then a reopen and reads. With an 8 MiB cache every
 * phase stays under the RSS of the empty open database plus the cache, the
 * hash index and a fixed allowance (the three threads' heaps and the
 * producer's reused batch buffers); the whole-log mirror, run beside it as
 * the negative control, goes past that bound by most of the file.
 *
 * The compaction's peak is sampled too: the new log is staged, not built
 * whole in memory (shm/staged-log.ts).
 *
 * Measured on the 2-core VM (2026-12-03): above the empty open database,
 * frames 55-87 MiB in every phase, the whole-log mirror 135 MiB after the
 * load (the file 84 MiB then, 42 MiB compacted). The compaction's peak with
 * frames: 75 MiB above the empty database staged, 115 MiB (past the bound)
 * when the new log was still built in a mirror. The issue's target allowance is 32 MiB; the heaps'
 * garbage from loading and reading keeps it above that (docs/DESIGN.md,
 * "Bounded page cache").
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, tempDirs } from '../helpers/common.js';
import { runJsonChild } from '../helpers/json-child.js';

const MiB = 1024 * 1024;
const KEYS = 200_000;
const CACHE = 8 * MiB;
/** Heaps of the opening thread, the writer and the reader, and the producer's batch buffers: measured 55-77 MiB. */
const ALLOWANCE = 96 * MiB;
/**
 * Encrypted: each miss opens a 16 KiB unit on the reading thread (here the
 * main thread, and the writer for the pages readers want cached), whose
 * plaintext passes through node:crypto as a short-lived string: their young
 * generations grow to their size limits under miss-heavy reads (measured
 * 23-49 MiB above the plaintext run, in phases that reach 115-137 MiB against
 * the bound of ~160). Not the file size: the log is 5x the cache.
 */
const SEALED_ALLOWANCE = ALLOWANCE + 32 * MiB;

interface ChildReport {
  empty: number;
  phases: Record<string, number>;
  fileBytes: number;
  indexBytes: number;
  cache: { bytes: number } | null;
}

function runChild(dir: string, mode: 'frames' | 'frames-encrypted' | 'whole'): Promise<ChildReport> {
  // The tiny-cache tier's variable would frame the control too.
  return runJsonChild<ChildReport>(path.join(FIXTURES, 'cache-memory-child.js'), [path.join(dir, 'db.emdb'), mode, String(KEYS), String(CACHE)], { EMDB_CACHE_SIZE: '' });
}

const mib = (n: number): string => `${(n / MiB).toFixed(0)} MiB`;

describe('cacheSize bounds resident memory', () => {
  const newDir = tempDirs('emdb-cache-memory-');

  it('keeps RSS within the empty database + cacheSize + index + an allowance through load, reads, compaction and reopen; the whole-log mirror does not', async () => {
    const frames = await runChild(newDir(), 'frames');
    const whole = await runChild(newDir(), 'whole');
    const bound = (r: ChildReport): number => r.empty + CACHE + r.indexBytes + ALLOWANCE;
    const show = (r: ChildReport): string => `empty ${mib(r.empty)}, ${Object.entries(r.phases).map(([k, v]) => `${k} ${mib(v)}`).join(', ')}, file ${mib(r.fileBytes)}, bound ${mib(bound(r))}`;
    console.log(`frames: ${show(frames)}\nwhole:  ${show(whole)}`);
    expect(frames.cache?.bytes).toBe(CACHE);
    expect(whole.cache).toBeNull();
    for (const [phase, rss] of Object.entries(frames.phases)) expect(rss, `frames, ${phase}`).toBeLessThanOrEqual(bound(frames));
    // The control: the same bound, met by the whole-log mirror, would not tell the two apart.
    expect(whole.phases.load!, 'the whole-log mirror after the load').toBeGreaterThan(bound(whole));
  }, 300_000);

  it('keeps the same bound for an encrypted database (plaintext frames, sealed units opened on misses, open and compaction through the file)', async () => {
    const sealed = await runChild(newDir(), 'frames-encrypted');
    const bound = sealed.empty + CACHE + sealed.indexBytes + SEALED_ALLOWANCE;
    console.log(`frames, encrypted: empty ${mib(sealed.empty)}, ${Object.entries(sealed.phases).map(([k, v]) => `${k} ${mib(v)}`).join(', ')}, file ${mib(sealed.fileBytes)}, bound ${mib(bound)}`);
    expect(sealed.cache?.bytes).toBe(CACHE);
    for (const [phase, rss] of Object.entries(sealed.phases)) expect(rss, `frames, encrypted, ${phase}`).toBeLessThanOrEqual(bound);
  }, 300_000);
});
