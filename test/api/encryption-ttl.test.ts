/**
 * An encrypted database with TTL records: the deadline lives inside the sealed
 * payload and the deadline heap inside the sealed snapshot body, yet ttl() and
 * expiresAt() survive a reopen from the index snapshot (no replay), and a
 * record whose deadline the database clock passes is invisible; no deadline
 * or key is on disk in the clear.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb } from 'emdb-js';
import { advanceTestClock } from 'emdb-js/testing';
import { tempDirs } from '../helpers/common.js';

const DAY = 86_400_000;

describe('encrypted database with TTL records', () => {
  const dirs = tempDirs('emdb-enc-ttl-');

  it('ttl() survives reopen from the sealed snapshot; an expired record is invisible once the clock moves', async () => {
    const file = path.join(dirs(), 'db.emdb');
    const encryption = { key: randomBytes(32) };
    const db = await Emdb.open<string>(file, { readers: 1, valueEncoding: 'utf8', encryption });
    await db.insertWithTtl('session-secret-key', 'short-lived', DAY);
    await db.insertWithTtl('weekly-secret-key', 'long-lived', 7 * DAY);
    await db.insert('forever-secret-key', 'kept');
    const deadline = await db.expiresAt('session-secret-key');
    expect(deadline).toBeGreaterThan(Date.now());
    await db.close();

    // Nothing of the keys, nor the 8 bytes of a deadline, in the clear on disk.
    const dir = path.dirname(file);
    const deadlineBytes = Buffer.alloc(8);
    deadlineBytes.writeBigUInt64LE(BigInt(deadline!));
    for (const name of fs.readdirSync(dir)) {
      const bytes = fs.readFileSync(path.join(dir, name));
      expect(bytes.includes(Buffer.from('secret-key')), name).toBe(false);
      expect(bytes.includes(deadlineBytes), name).toBe(false);
    }

    const again = await Emdb.open<string>(file, { readers: 1, valueEncoding: 'utf8', encryption });
    try {
      const stats = await again.stats();
      expect(stats.recovery.mode).toBe('snapshot');
      expect(stats.recovery.recordsReplayed).toBe(0);
      expect(stats.ttl.deadlines).toBe(2);
      expect(await again.expiresAt('session-secret-key')).toBe(deadline);
      const left = await again.ttl('session-secret-key');
      expect(left).toBeGreaterThan(0);
      expect(left).toBeLessThanOrEqual(DAY);
      expect(await again.ttl('forever-secret-key')).toBeUndefined();

      await advanceTestClock(again, 2 * DAY);
      expect(again.getSync('session-secret-key')).toBeUndefined();
      expect(await again.get('session-secret-key')).toBeUndefined();
      expect(await again.ttl('session-secret-key')).toBeUndefined();
      expect(await again.get('weekly-secret-key')).toBe('long-lived');
      expect(await again.get('forever-secret-key')).toBe('kept');
      expect(await again.len()).toBe(2);
      const keys: string[] = [];
      for await (const [k] of again.iter()) keys.push(String(k));
      expect(keys.sort()).toEqual(['forever-secret-key', 'weekly-secret-key']);
    } finally {
      await again.close();
    }
  });

  it('compaction of an encrypted file drops expired records and keeps the others with their deadlines; so do disable and enable', async () => {
    const file = path.join(dirs(), 'db.emdb');
    const encryption = { key: randomBytes(32) };
    const db = await Emdb.open<string>(file, { readers: 1, valueEncoding: 'utf8', encryption });
    await db.insertWithTtl('soon', 'a', DAY);
    await db.insertWithTtl('later', 'b', 7 * DAY);
    await db.insert('never', 'c');
    const later = await db.expiresAt('later');
    await db.close();

    // Each step reopens: the database clock is per open database.
    const step = async (enc: { key: Uint8Array } | undefined, expectKeys: string[], compact: boolean): Promise<void> => {
      const d = await Emdb.open<string>(file, { readers: 1, valueEncoding: 'utf8', ...(enc ? { encryption: enc } : {}) });
      try {
        await advanceTestClock(d, 2 * DAY);
        if (compact) expect((await d.compact()).keysKept).toBe(expectKeys.length);
        expect(await d.expiresAt('later')).toBe(later);
        expect(await d.ttl('never')).toBeUndefined();
        const keys: string[] = [];
        for await (const [k] of d.iter()) keys.push(String(k));
        expect(keys.sort()).toEqual(expectKeys);
      } finally {
        await d.close();
      }
    };
    await step(encryption, ['later', 'never'], true);
    await Emdb.disableEncryption(file, encryption);
    await step(undefined, ['later', 'never'], false);
    const next = { key: randomBytes(32) };
    await Emdb.enableEncryption(file, next);
    await step(next, ['later', 'never'], false);
    expect(fs.readFileSync(file).includes(Buffer.from('later'))).toBe(false);
  });
});
