import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb } from 'emdb-js';
import { tempDirs } from '../helpers/common.js';

/**
 * tx.remove() reports whether the key existed from a lookup through the key
 * space's reusable key scratch. A lookup of a Uint8Array key leaves the scratch
 * pointing at the caller's array; a later string key must be looked up by its
 * own bytes, not by those of the previous binary key.
 */
describe('transaction remove after a binary-key read', () => {
  const newDir = tempDirs();

  it('reports a missing string key as missing, whatever key was read before', async () => {
    const db = await Emdb.open(path.join(newDir(), 't.emdb'), { readers: 1 });
    await db.insert('a', 'present');
    // Same length as 'b', so a lookup with the stale bytes would find 'a'.
    expect(db.getSync(Buffer.from('a'))?.toString()).toBe('present');
    const existed = await db.transaction(async (tx) => tx.remove('b'));
    expect(existed).toBe(false);
    expect(db.getSync(new Uint8Array([0x61]))?.toString()).toBe('present');
    expect(await db.transaction(async (tx) => tx.remove('a'))).toBe(true);
    expect(db.getSync('a')).toBeUndefined();
    await db.close();
  });
});
