/**
 * The framed lookup's one-window path (src/shm/framed-mirror.ts,
 * FramedView.lookupValue): a probe's match copies the value out of its frame
 * by whole words in the same version window as the key comparison. Values
 * of every length 0..4 mod 4 and at every distance from a page's end, with
 * the log resident (the one-window copy; records that run past a page take
 * the whole-record copy) and with a cache of two frames (nearly every read a
 * checked pread, the value served from the fetched record), must read back
 * byte for byte through getSync and getMany, and a deadline read in the
 * window must hide the value once it passes.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { advanceTestClock } from '../../dist/src/testing.js';
import { Emdb, tempDirs } from '../helpers/common.js';

/** Value of key i: a length that sweeps sizes around word and page boundaries, bytes that name the key and position. */
function valueOf(i: number): Buffer {
  const len = i % 7 === 0 ? 0 : (i * 977) % 5003;
  const v = Buffer.allocUnsafe(len);
  for (let k = 0; k < len; k++) v[k] = (i * 31 + k * 7) & 0xff;
  return v;
}

const N = 2_000;
const key = (i: number): string => `k${i.toString().padStart(6, '0')}`;

describe('framed lookup: key and value in one version window', () => {
  const newDir = tempDirs('emdb-framed-capture-');

  for (const [label, cacheSize] of [
    ['log resident', 64 << 20],
    ['two frames', 2 * 65536],
  ] as const) {
    it(`reads every value exactly (${label}), also after reopen, and hides expired values`, async () => {
      const file = path.join(newDir(), 'db.emdb');
      let db = await Emdb.open<Buffer>(file, { cacheSize });
      await db.insertMany(Array.from({ length: N }, (_, i) => [key(i), valueOf(i)] as [string, Buffer]));
      await db.insertWithTtl('short', Buffer.from('gone soon'), 60_000);
      await db.flush();
      for (let round = 0; round < 2; round++) {
        const wrong: number[] = [];
        for (let i = 0; i < N; i++) if (!valueOf(i).equals(db.getSync(key(i)) ?? Buffer.from('missing'))) wrong.push(i);
        const some = Array.from({ length: 200 }, (_, j) => (j * 37) % N);
        const many = await db.getMany(some.map(key));
        some.forEach((i, j) => {
          if (!valueOf(i).equals(many[j] ?? Buffer.from('missing'))) wrong.push(i);
        });
        expect(wrong).toEqual([]);
        expect(db.getSync('absent')).toBeUndefined();
        if (round === 0) {
          expect(db.getSync('short')).toEqual(Buffer.from('gone soon'));
          await db.close();
          db = await Emdb.open<Buffer>(file, { cacheSize });
        }
      }
      expect(db.getSync('short')).toEqual(Buffer.from('gone soon'));
      await advanceTestClock(db, 120_000);
      expect(db.getSync('short')).toBeUndefined();
      await db.close();
    }, 60_000);
  }
});
