/**
 * README: an interrupted insertMany rejects with an error whose `committed`
 * says how many entries were written. Found by outside testing: when the
 * caller's own entries iterator threw, its error came back without
 * `committed`, although whole chunks before it had been written. It is now
 * passed through with `committed` set, and exactly that many entries are in
 * the database.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, tempDirs } from '../helpers/common.js';

describe('insertMany whose source throws', () => {
  const newDir = tempDirs('emdb-im-source-');

  for (const kind of ['sync', 'async'] as const) {
    it(`passes the source's error through with committed set (${kind} iterable)`, async () => {
      const db = await Emdb.open(path.join(newDir(), `${kind}.emdb`), { readers: 1 });
      try {
        const failure = new Error('source failed');
        const value = Buffer.alloc(200, 1);
        function* sync(): Generator<[string, Buffer]> {
          for (let i = 0; i < 50_000; i++) yield [`k${i}`, value];
          throw failure;
        }
        async function* asyncSource(): AsyncGenerator<[string, Buffer]> {
          yield* sync();
        }
        const err = await db.insertMany(kind === 'sync' ? sync() : asyncSource()).then(
          () => undefined,
          (e: unknown) => e as Error & { committed?: number },
        );
        expect(err).toBe(failure);
        expect(typeof err!.committed).toBe('number');
        expect(err!.committed).toBeGreaterThan(0);
        expect(await db.len()).toBe(err!.committed);
      } finally {
        await db.close();
      }
    });
  }
});
