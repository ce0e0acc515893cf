/**
 * An interrupted removeMany: close() called from inside its async source, with
 * chunks sent and chunks still to come. It rejects with ERR_EMDB_CLOSED and
 * `committed` (keys in the chunks the writer applied), no chunk in flight
 * rejects unhandled (vitest fails the run on one), and after a reopen exactly
 * those `committed` keys, the first ones of the source, are gone.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, EmdbError } from 'emdb-js';
import { tempDirs } from '../helpers/common.js';

const N = 60_000;
const key = (i: number) => `k${String(i).padStart(6, '0')}-`.padEnd(200, 'x');

describe('removeMany interrupted by close()', () => {
  const newDir = tempDirs('emdb-remove-many-close-');

  it('rejects with ERR_EMDB_CLOSED and `committed`; the committed removals are kept, nothing after them', async () => {
    const file = path.join(newDir(), 'x.emdb');
    const db = await Emdb.open(file, { readers: 1 });
    await db.insertMany(Array.from({ length: N }, (_, i) => [key(i), 'v'] as [string, string]));
    let closing: Promise<void> | undefined;
    async function* source(): AsyncGenerator<string> {
      for (let i = 0; i < N; i++) {
        if (i === 45_000) closing = db.close();
        yield key(i);
      }
    }
    const err = await db.removeMany(source()).then(
      () => undefined,
      (e: unknown) => e as EmdbError,
    );
    await closing;
    expect(err).toBeInstanceOf(EmdbError);
    expect(err!.code).toBe('ERR_EMDB_CLOSED');
    // ~207-byte tombstones: a 1 MiB chunk holds ~5,000 of them; the chunks sent before close() went, the rest did not.
    expect(err!.committed).toBeGreaterThanOrEqual(20_000);
    expect(err!.committed).toBeLessThanOrEqual(45_000);
    const again = await Emdb.open(file, { readers: 1 });
    try {
      expect(await again.len()).toBe(N - err!.committed!);
      for (let i = 0; i < N; i += 101) expect(again.getSync(key(i)) === undefined, `key ${i}`).toBe(i < err!.committed!);
    } finally {
      await again.close();
    }
  });
});
