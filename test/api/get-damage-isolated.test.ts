/**
 * Damage met by one get() does not fail the others of its tick (found by an
 * outside-user pass): the gets of one tick share a reader-pool task, and a
 * damaged record one of them meets used to reject every promise of the task.
 * Now only the calls that meet the damage fail (ERR_EMDB_CORRUPTION with an
 * offset); a getMany holding a damaged key fails as a whole (it is one read);
 * a getMany without one, in the same tick, resolves. Plaintext and encrypted,
 * with the page cache on, so the damage is met by reads, not by the open.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, ErrorCode, tempDirs } from '../helpers/common.js';

const N = 20_000;
const key = (i: number): string => `k${i}`;
const value = (i: number): Buffer => Buffer.from(`value-${i}-`.padEnd(1000, 'x'));

describe('damage met by a get() inside a tick of gets', () => {
  const newDir = tempDirs('emdb-get-damage-');

  it.each([
    ['plaintext', {}],
    ['encrypted', { encryption: { key: Buffer.alloc(32, 7) } }],
  ])('%s: fails only the calls that meet it', async (_kind, extra) => {
    const file = path.join(newDir(), 'db.emdb');
    const options = { cacheSize: 4 << 20, ...extra };
    let db = await Emdb.open<Buffer>(file, options);
    await db.insertMany(Array.from({ length: N }, (_, i) => [key(i), value(i)] as [string, Buffer]));
    await db.close();
    db = await Emdb.open<Buffer>(file, options);
    try {
      // Damage under the open database, in the middle of the log (a page nobody has read yet).
      const size = fs.statSync(file).size;
      const fd = fs.openSync(file, 'r+');
      fs.writeSync(fd, Buffer.from('ZZZZ'), 0, 4, Math.floor(size / 2));
      fs.closeSync(fd);
      const damaged = new Set<number>();
      for (let i = 0; i < N; i++) {
        try {
          expect(db.getSync(key(i))?.equals(value(i))).toBe(true);
        } catch (err) {
          expect(err).toMatchObject({ code: ErrorCode.CORRUPTION });
          damaged.add(i);
        }
      }
      expect(damaged.size).toBeGreaterThan(0);
      const first = Math.min(...damaged);
      // The pool started and warm, as a service's would be.
      for (let w = 0; w < 3; w++) await Promise.all(Array.from({ length: 1000 }, (_, j) => db.get(key((w * 1000 + j + first + 1000) % N))));
      const around = Array.from({ length: 1000 }, (_, j) => Math.min(N - 1, Math.max(0, first - 500 + j)));
      const clean = around.filter((i) => !damaged.has(i)).slice(0, 50);
      const [settled, withDamage, withoutDamage] = await Promise.all([
        Promise.allSettled(around.map((i) => db.get(key(i)))),
        db.getMany([key(first), key(clean[0]!)]).then(
          () => undefined,
          (err: unknown) => err,
        ),
        db.getMany(clean.map(key)),
      ]);
      const wrongly = settled.filter((r, j) => r.status === 'rejected' && !damaged.has(around[j]!));
      expect(wrongly.length, 'healthy keys rejected').toBe(0);
      settled.forEach((r, j) => {
        const i = around[j]!;
        if (damaged.has(i)) expect(r).toMatchObject({ status: 'rejected', reason: { code: ErrorCode.CORRUPTION } });
        else expect(r.status === 'fulfilled' && r.value?.equals(value(i))).toBe(true);
      });
      expect(withDamage).toMatchObject({ code: ErrorCode.CORRUPTION });
      expect(typeof (withDamage as { offset?: unknown }).offset).toBe('number');
      expect(withoutDamage.every((v, j) => v?.equals(value(clean[j]!)))).toBe(true);
    } finally {
      await db.close().catch(() => undefined);
    }
  }, 60_000);
});
