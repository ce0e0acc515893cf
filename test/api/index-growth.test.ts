import { describe, expect, it } from 'vitest';
import { Emdb } from 'emdb-js';

describe('index growth under concurrent reads', () => {
  it('never loses a key that was acknowledged, while the table is rebuilt many times', async () => {
    const db = await Emdb.openInMemory({ readers: 2 });
    const total = 120_000; // the index starts at 1024 slots: about 8 doublings
    const acked: string[] = [];
    let missing = 0;
    let checks = 0;
    let done = false;
    const writer = (async () => {
      for (let i = 0; i < total; i += 2000) {
        const batch: string[] = [];
        for (let j = i; j < i + 2000; j++) batch.push(`grow:${j}`);
        await db.insertMany(batch.map((k) => [k, k] as [string, string]));
        acked.push(...batch);
      }
      done = true;
    })();
    const readers = (async () => {
      let x = 7;
      while (!done) {
        const n = acked.length;
        if (n > 0) {
          const sample: string[] = [];
          for (let i = 0; i < 500; i++) {
            x = (x * 1103515245 + 12345) >>> 0;
            sample.push(acked[x % n]!);
          }
          for (const k of sample) {
            checks++;
            if (db.getSync(k)?.toString() !== k) missing++;
          }
          const got = await db.getMany(sample);
          got.forEach((v, i) => {
            checks++;
            if (v?.toString() !== sample[i]) missing++;
          });
        }
        await new Promise((r) => setImmediate(r));
      }
    })();
    await Promise.all([writer, readers]);
    const stats = await db.stats();
    await db.close();
    expect(stats.records).toBe(total);
    expect(stats.indexCapacity).toBeGreaterThanOrEqual(total);
    expect(checks).toBeGreaterThan(10_000);
    expect(missing).toBe(0);
  });
});
