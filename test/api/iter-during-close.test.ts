/**
 * An iter() running while the database closes (issue 12, defect 7) rejects with
 * an EmdbError whose code is ERR_EMDB_CLOSED, never with the reader pool's
 * plain "Terminating worker thread" Error.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Emdb, EmdbError, ErrorCode, rmrf, tmpDir } from '../helpers/common.js';

describe('iter() during close()', () => {
  let dir: string;
  beforeAll(() => (dir = tmpDir('emdb-iter-close-')));
  afterAll(() => rmrf(dir));

  for (const method of ['iter', 'keys'] as const) {
    it(`${method}(): the pending next() rejects with ERR_EMDB_CLOSED`, async () => {
      const db = await Emdb.open(path.join(dir, `${method}.emdb`), { readers: 2 });
      // Enough keys for many scan chunks, so chunks are in flight on the pool when close() destroys it.
      const entries: [string, string][] = [];
      for (let i = 0; i < 200_000; i++) entries.push([`k${i}`, 'v']);
      await db.insertMany(entries);
      const iterator = db[method]()[Symbol.asyncIterator]();
      await iterator.next();
      const closing = db.close();
      let failure: unknown;
      try {
        for (let i = 0; i < 1_000_000; i++) if ((await iterator.next()).done) break;
      } catch (err) {
        failure = err;
      }
      await closing;
      expect(failure, 'the iterator ran to its end although the database closed').toBeDefined();
      expect(failure, String(failure)).toBeInstanceOf(EmdbError);
      expect((failure as EmdbError).code).toBe(ErrorCode.CLOSED);
    });
  }
});
