/**
 * The index's tombstone purge runs in steps between the writer's requests
 * (src/shm/index-rebuild.ts): every key acknowledged while the new table is
 * being copied must be found by every reader path, during the purge and after
 * the new table replaces the old one. The negative control plants a purge that
 * drops writes made to slots it had already copied (EMDB_TEST_MUTANT
 * 'purge-loses-writes'), and the same check must catch it.
 */
import { describe, expect, it } from 'vitest';
import { Emdb } from 'emdb-js';

const GONE = 300_000;
const KEEP = 20_000;
const BATCH = 400;

async function purgeUnderWrites(): Promise<{ missing: number; checks: number; capacityBefore: number; capacityAfter: number; writtenDuring: number; records: number; acked: number }> {
  const db = await Emdb.openInMemory({ readers: 2 });
  try {
    for (let i = 0; i < GONE; i += 10_000) {
      await db.insertMany(Array.from({ length: 10_000 }, (_, j) => [`gone.${i + j}`, 'x'] as [string, string]));
    }
    const acked: string[] = [];
    for (let i = 0; i < KEEP; i += 10_000) {
      const batch = Array.from({ length: 10_000 }, (_, j) => `keep:${i + j}`);
      await db.insertMany(batch.map((k) => [k, k] as [string, string]));
      acked.push(...batch);
    }
    const capacityBefore = (await db.stats()).indexCapacity;
    let missing = 0;
    let checks = 0;
    const check = async (keys: string[]): Promise<void> => {
      for (const k of keys) {
        checks++;
        if (db.getSync(k)?.toString() !== k) missing++;
      }
      (await db.getMany(keys)).forEach((v, i) => {
        checks++;
        if (v?.toString() !== keys[i]) missing++;
      });
    };
    // One small record removes 300,000 keys: far past a quarter of the table in tombstones, so a purge starts.
    await db.group('gone').remove();
    let capacityAfter = capacityBefore;
    let writtenDuring = 0;
    let x = 11;
    // Writes while the purge copies the table, a batch per round trip (each lands between two purge steps).
    for (let round = 0; capacityAfter === capacityBefore && round < 2000; round++) {
      const batch = Array.from({ length: BATCH }, (_, j) => `new:${round}:${j}`);
      await db.insertMany(batch.map((k) => [k, k] as [string, string]));
      acked.push(...batch);
      writtenDuring += BATCH;
      const sample: string[] = [];
      for (let i = 0; i < 200; i++) {
        x = (x * 1103515245 + 12345) >>> 0;
        sample.push(acked[x % acked.length]!);
      }
      await check(sample);
      capacityAfter = (await db.stats()).indexCapacity;
    }
    // After the new table replaced the old one: every acknowledged key, every path.
    await check(acked);
    const records = (await db.stats()).records;
    return { missing, checks, capacityBefore, capacityAfter, writtenDuring, records, acked: acked.length };
  } finally {
    await db.close();
  }
}

describe('index purge under concurrent writes and reads', () => {
  it('never loses an acknowledged key while tombstones are purged in steps', async () => {
    const r = await purgeUnderWrites();
    // The purge completed (a smaller table replaced the one full of tombstones) with writes made during it.
    expect(r.capacityAfter).toBeLessThan(r.capacityBefore);
    expect(r.writtenDuring).toBeGreaterThanOrEqual(BATCH);
    expect(r.checks).toBeGreaterThan(2 * (KEEP + r.writtenDuring));
    expect(r.missing).toBe(0);
    expect(r.records).toBe(r.acked);
  }, 120_000);

  it('negative control: a purge that drops writes to slots already copied is caught', async () => {
    process.env.EMDB_TEST_MUTANT = 'purge-loses-writes';
    try {
      const r = await purgeUnderWrites();
      expect(r.capacityAfter).toBeLessThan(r.capacityBefore);
      expect(r.missing).toBeGreaterThan(0);
    } finally {
      delete process.env.EMDB_TEST_MUTANT;
    }
  }, 120_000);
});
