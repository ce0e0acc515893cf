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

const GONE = 400_000;
/** Live keys the purge copies: enough that it takes many steps on any machine. */
const KEEP = 300_000;
const BATCH = 200;

async function fill(db: Emdb<unknown>, prefix: string, n: number): Promise<void> {
  for (let i = 0; i < n; i += 10_000) {
    await db.insertMany(Array.from({ length: 10_000 }, (_, j) => [`${prefix}${i + j}`, `${prefix}${i + j}`] as [string, string]));
  }
}

async function purgeUnderWrites(): Promise<{ missing: number; checks: number; loadBefore: number; loadAfter: number; rounds: number; records: number; expected: number }> {
  const db = await Emdb.openInMemory({ readers: 2 });
  try {
    await fill(db, 'gone.', GONE);
    await fill(db, 'keep:', KEEP);
    const before = await db.stats();
    let missing = 0;
    let checks = 0;
    const checkSync = (keys: string[]): void => {
      for (const k of keys) {
        checks++;
        if (db.getSync(k)?.toString() !== k) missing++;
      }
    };
    const check = async (keys: string[]): Promise<void> => {
      checkSync(keys);
      (await db.getMany(keys)).forEach((v, i) => {
        checks++;
        if (v?.toString() !== keys[i]) missing++;
      });
    };
    // One small record removes 400,000 keys: far past a quarter of the table in tombstones, so a purge starts.
    await (await db.group('gone')).remove();
    const written: string[] = [];
    let loadAfter = before.indexLoad;
    let rounds = 0;
    // Writes while the purge copies the table, one batch per round trip: each lands between two
    // purge steps, at a different copy position. Each is read back at once (getSync probes the
    // published table on this thread; the reader pool's getMany would leave the writer idle).
    // The purge is done when the table's load (live + tombstones) fell to about the live keys'.
    while (loadAfter > 0.5 && rounds < 5000) {
      const batch = Array.from({ length: BATCH }, (_, j) => `new:${rounds}:${j}`);
      await db.insertMany(batch.map((k) => [k, k] as [string, string]));
      written.push(...batch);
      checkSync(batch);
      rounds++;
      loadAfter = (await db.stats()).indexLoad;
    }
    // After the new table replaced the old one: every key written during the purge, a sample of the rest.
    await check(written);
    await check(Array.from({ length: 20_000 }, (_, i) => `keep:${(i * 7919) % KEEP}`));
    const records = (await db.stats()).records;
    return { missing, checks, loadBefore: before.indexLoad, loadAfter, rounds, records, expected: KEEP + written.length };
  } finally {
    await db.close();
  }
}

describe('index purge under concurrent writes and reads', () => {
  it('never loses an acknowledged key while tombstones are purged in steps', async () => {
    const r = await purgeUnderWrites();
    // The purge completed (a smaller table replaced the one full of tombstones) with writes made during it.
    // The purge completed (a table without the 400,000 tombstones replaced the old one).
    expect(r.loadBefore).toBeGreaterThan(0.6);
    expect(r.loadAfter).toBeLessThan(0.5);
    // Writes landed between purge steps (a purge of 300,000 live keys takes several 4 ms steps).
    expect(r.rounds).toBeGreaterThanOrEqual(2);
    expect(r.missing).toBe(0);
    expect(r.records).toBe(r.expected);
  }, 120_000);

  it('negative control: a purge that drops writes to slots already copied is caught', async () => {
    process.env.EMDB_TEST_MUTANT = 'purge-loses-writes';
    try {
      const r = await purgeUnderWrites();
      expect(r.loadAfter).toBeLessThan(0.5);
      expect(r.missing).toBeGreaterThan(0);
    } finally {
      delete process.env.EMDB_TEST_MUTANT;
    }
  }, 120_000);
});
