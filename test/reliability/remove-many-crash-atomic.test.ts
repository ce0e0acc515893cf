/**
 * removeMany's chunks are crash-atomic: after a checkpoint, a removeMany whose
 * tombstones fill two chunks (each TX_BEGIN … TX_COMMIT) is flushed, and the
 * log is cut (as a crash leaves it) at the edges of each chunk and inside it:
 * at its first byte, one byte in, after the TX_BEGIN header, in the middle of a
 * tombstone halfway through, one byte short of its end, at its end. Every cut
 * must recover exactly the chunks complete before it: all of a chunk's keys
 * gone, or none (the same check recovery-truncation.test.ts makes for
 * insertMany). The recovery walk runs in-process (WriterEngine); the cut in
 * the middle of the second chunk also goes through Emdb.open, every key read.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Emdb, rmrf, tmpDir } from '../helpers/common.js';
import { HEADER, Kind, activeTailHint, walkRecords, withInProcessEngine, type Rec } from '../helpers/log-image.js';

const N = 2_400;
/** ~600-byte keys: 2,400 tombstones are ~1.5 MiB, two 1 MiB chunks. */
const key = (i: number) => `k${String(i).padStart(5, '0')}-`.padEnd(600, 'x');

describe('removeMany chunks are all or nothing after a crash', () => {
  let dir: string;
  let image: Buffer;
  let chunks: { start: number; end: number; tombstones: Rec[] }[];

  beforeAll(async () => {
    dir = tmpDir('emdb-remove-many-crash-');
    const file = path.join(dir, 'source.emdb');
    const db = await Emdb.open(file, { readers: 1 });
    await db.insertMany(Array.from({ length: N }, (_, i) => [key(i), 'v'] as [string, string]));
    await db.checkpoint();
    expect(await db.removeMany(Array.from({ length: N }, (_, i) => key(i)))).toBe(N);
    await db.flush();
    // Copy while open: what a crash right after this flush leaves on disk.
    image = fs.readFileSync(file).subarray(0, (await db.stats()).fileBytes);
    await db.close();
    const tail = activeTailHint(image);
    const after = walkRecords(image).records.filter((r) => r.start >= tail);
    chunks = [];
    for (const r of after) {
      if (r.kind === Kind.TX_BEGIN) chunks.push({ start: r.start, end: r.end, tombstones: [] });
      else if (r.kind === Kind.TOMBSTONE) chunks[chunks.length - 1]!.tombstones.push(r);
      else if (r.kind === Kind.TX_COMMIT) chunks[chunks.length - 1]!.end = r.end;
    }
    expect(after[0]?.kind, 'the tail hint sits at the first chunk').toBe(Kind.TX_BEGIN);
    expect(chunks.length).toBe(2);
    expect(chunks.reduce((n, c) => n + c.tombstones.length, 0)).toBe(N);
    expect(chunks[chunks.length - 1]!.end).toBe(image.length);
  });

  afterAll(() => rmrf(dir));

  /** Live keys a cut at `cut` must leave: N minus the tombstones of the chunks complete before it. */
  const expectedLive = (cut: number) => N - chunks.filter((c) => c.end <= cut).reduce((n, c) => n + c.tombstones.length, 0);

  it('every cut at or inside a chunk recovers whole chunks only', () => {
    const cuts = chunks.flatMap((c) => {
      const mid = c.tombstones[c.tombstones.length >> 1]!;
      return [c.start, c.start + 1, c.start + HEADER, mid.start, mid.start + HEADER + 7, c.end - 1, c.end];
    });
    const file = path.join(dir, 'cut.emdb');
    const failures: string[] = [];
    for (const cut of cuts) {
      fs.writeFileSync(file, image.subarray(0, cut));
      const live = withInProcessEngine(file, (engine) => {
        const n = engine.stats().records;
        engine.close();
        return n;
      });
      if (live !== expectedLive(cut)) failures.push(`cut at ${cut}: ${live} live keys, want ${expectedLive(cut)}`);
    }
    expect(failures).toEqual([]);
    // The sweep saw each outcome: nothing removed, the first chunk removed, everything removed.
    expect(new Set(cuts.map(expectedLive))).toEqual(new Set([N, N - chunks[0]!.tombstones.length, 0]));
  });

  it('a cut inside the second chunk, through Emdb.open: the first chunk\'s keys are gone, every other key is there', async () => {
    const cut = chunks[1]!.tombstones[100]!.start + 3;
    const file = path.join(dir, 'open.emdb');
    fs.writeFileSync(file, image.subarray(0, cut));
    const db = await Emdb.open(file, { readers: 1 });
    try {
      const first = chunks[0]!.tombstones.length;
      expect(await db.len()).toBe(N - first);
      for (let i = 0; i < N; i++) expect(db.getSync(key(i)) === undefined, `key ${i}`).toBe(i < first);
    } finally {
      await db.close();
    }
  });
});
