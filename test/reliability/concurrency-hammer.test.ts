import { describe, expect, it } from 'vitest';
import { Emdb, tempDirs } from '../helpers/common.js';
import { checkValue, makeValue, versionOf } from '../helpers/value-check.js';
import path from 'node:path';

const HOT_KEYS = 64;
const RUN_MS = 3000;

interface Outcome {
  reads: number;
  bad: string[];
  regressions: number;
}

/**
 * The writer worker rewrites a small set of hot keys as fast as it can while the
 * reader pool (get) and this thread (getSync) read the same keys through the
 * shared seqlock index. Every value is checked from its own bytes, and per key the
 * versions a reader sees must never go backwards (writes to a key are ordered).
 */
async function hammer(db: Emdb<Buffer>, corrupt: (v: Buffer) => Buffer): Promise<Outcome> {
  const keys = Array.from({ length: HOT_KEYS }, (_, i) => `hot:${i}`);
  await db.insertMany(keys.map((k) => [k, makeValue(k, 0)] as [string, Buffer]));
  const out: Outcome = { reads: 0, bad: [], regressions: 0 };
  const deadline = Date.now() + RUN_MS;
  const seenSync = new Map<string, number>();
  const seenPool = new Map<string, number>();
  const observe = (seen: Map<string, number>, key: string, raw: Buffer | undefined): void => {
    out.reads++;
    if (raw === undefined) {
      out.bad.push(`${key}: missing`);
      return;
    }
    const value = corrupt(raw);
    const why = checkValue(key, value);
    if (why) {
      out.bad.push(`${key}: ${why}`);
      return;
    }
    const v = versionOf(value);
    if (v < (seen.get(key) ?? 0)) out.regressions++;
    seen.set(key, v);
  };

  const writer = (async () => {
    let version = 1;
    while (Date.now() < deadline) {
      const batch: Promise<void>[] = [];
      for (const k of keys) batch.push(db.insert(k, makeValue(k, version)));
      await Promise.all(batch);
      version++;
    }
    return version;
  })();
  const poolReader = (async () => {
    while (Date.now() < deadline) {
      const values = await Promise.all(keys.map((k) => db.get(k)));
      values.forEach((v, i) => observe(seenPool, keys[i]!, v));
    }
  })();
  const syncReader = (async () => {
    while (Date.now() < deadline) {
      for (const k of keys) observe(seenSync, k, db.getSync(k));
      await new Promise((r) => setImmediate(r));
    }
  })();
  const [versions] = await Promise.all([writer, poolReader, syncReader]);
  expect(versions).toBeGreaterThan(10);
  return out;
}

describe('writer and readers hammering the same keys', () => {
  const newDir = tempDirs();

  it.each([
    ['plaintext', {}],
    ['encrypted', { encryption: { key: Buffer.alloc(32, 0x4d) } }],
  ])('%s: never returns a torn, foreign or stale-after-newer value', async (_kind, options) => {
    const dir = newDir();
    // Encrypted, with a cache (the tiny-cache tier): every reading thread opens sealed units as it misses.
    const db = await Emdb.open(path.join(dir, 'h.emdb'), { readers: 2, ...options });
    const out = await hammer(db, (v) => v);
    await db.close();
    expect(out.reads).toBeGreaterThan(10_000);
    expect(out.bad).toEqual([]);
    expect(out.regressions).toBe(0);
  });

  it('negative control: the same check flags corrupted reads', async () => {
    const dir = newDir();
    const db = await Emdb.open(path.join(dir, 'h.emdb'), { readers: 2 });
    let n = 0;
    // Flip one byte in every 500th value read: the harness must notice.
    const out = await hammer(db, (v) => {
      if (++n % 500 !== 0) return v;
      const c = Buffer.from(v);
      c[20] = (c[20]! ^ 0x40) & 0xff;
      return c;
    });
    await db.close();
    expect(out.bad.length).toBeGreaterThan(0);
    expect(out.bad.every((b) => b.includes('digest mismatch'))).toBe(true);
  });
});
