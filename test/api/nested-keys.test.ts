import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb } from '../../dist/src/index.js';
import { advanceTestClock } from '../../dist/src/testing.js';
import { collect, rejectsWithCode, tempDirs } from '../helpers/common.js';

describe('focus and group', () => {
  const dirs = tempDirs('emdb-nested-');

  it('focus keys are prefix + "." + key, nested foci compose, binary keys work', async () => {
    const db = await Emdb.openInMemory<string>({ readers: 1, valueEncoding: 'utf8' });
    try {
      const user = db.focus('user');
      await user.insert('name', 'ann');
      await user.focus('prefs').insert('theme', 'dark');
      await user.insert(Uint8Array.from([0xff, 0x00]), 'bin');
      expect(await db.get('user.name')).toBe('ann');
      expect(await db.focus('user.prefs').get('theme')).toBe('dark');
      expect(await db.get(Buffer.concat([Buffer.from('user.'), Buffer.from([0xff, 0x00])]))).toBe('bin');
      expect(user.getSync('name')).toBe('ann');
      expect(await user.getMany(['name', 'nope'])).toEqual(['ann', undefined]);
      expect(await user.contains('name')).toBe(true);
      expect(await user.count()).toBe(3);
      const rel = (await collect(user.keys())).map((k) => k.toString('latin1')).sort();
      expect(rel).toEqual(['name', 'prefs.theme', '\xff\x00'].sort());
      const full = (await collect(user.keys({ fullKeys: true }))).map((k) => k.toString('latin1')).sort();
      expect(full).toEqual(['user.name', 'user.prefs.theme', 'user.\xff\x00'].sort());
      const entries = await collect(user.entries());
      expect(entries.find(([k]) => k.toString() === 'name')?.[1]).toBe('ann');
      expect(await user.remove('name')).toBe(true);
      expect(await user.remove('name')).toBe(false);
    } finally {
      await db.close();
    }
  });

  it('refuses empty and non-string prefixes, and empty keys', async () => {
    const db = await Emdb.openInMemory({ readers: 1 });
    try {
      expect(() => db.focus('')).toThrow(expect.objectContaining({ code: 'ERR_EMDB_INVALID_CONFIG' }) as Error);
      expect(() => db.focus(5 as unknown as string)).toThrow(expect.objectContaining({ code: 'ERR_EMDB_INVALID_CONFIG' }) as Error);
      expect(() => db.focus('a').focus('')).toThrow(expect.objectContaining({ code: 'ERR_EMDB_INVALID_CONFIG' }) as Error);
      await rejectsWithCode(db.group(''), 'ERR_EMDB_INVALID_CONFIG');
      await rejectsWithCode(db.focus('a').insert('', 'v'), 'ERR_EMDB_INVALID_KEY');
    } finally {
      await db.close();
    }
  });

  it('group remove deletes exactly the group, in namespaces too, and survives reopen as one record', async () => {
    const file = path.join(dirs(), 'db.emdb');
    const db = await Emdb.open<string>(file, { readers: 1, valueEncoding: 'utf8' });
    const ns = await db.namespace<string>('n');
    await db.insertMany(Array.from({ length: 1000 }, (_, i) => [`sess.${i}`, 'v'] as [string, string]));
    await db.insert('sess', 'not in the group');
    await db.insert('session.x', 'not in the group either');
    await ns.insert('sess.1', 'other namespace');
    const before = (await db.stats()).fileBytes;
    const group = await db.group('sess');
    expect(await group.count()).toBe(1000);
    await group.remove();
    // One small record, not a tombstone per key.
    expect((await db.stats()).fileBytes - before).toBeLessThan(100);
    expect(await group.count()).toBe(0);
    expect(await db.len()).toBe(2);
    expect(await ns.get('sess.1')).toBe('other namespace');
    await db.checkpoint();
    await db.insert('sess.new', 'after the delete');
    await db.close();
    // Replays from the snapshot, then the tail; and with no snapshot at all, the prefix delete again.
    for (const dropSnapshot of [false, true]) {
      if (dropSnapshot) (await import('node:fs')).rmSync(`${file}.index`, { force: true });
      const again = await Emdb.open<string>(file, { readers: 1, valueEncoding: 'utf8' });
      try {
        expect(await (await again.group('sess')).count()).toBe(1);
        expect(await again.get('sess.new')).toBe('after the delete');
        expect(await again.get('sess')).toBe('not in the group');
        expect(await again.len()).toBe(3);
      } finally {
        await again.close();
      }
    }
  });

  it('a custom separator; expired focus keys are invisible to focus reads and counts', async () => {
    const db = await Emdb.openInMemory<string>({ readers: 1, valueEncoding: 'utf8', separator: '/' });
    try {
      const f = db.focus('cache');
      await f.insertWithTtl('a', '1', 1000);
      await f.insert('b', '2');
      expect(await db.get('cache/a')).toBe('1');
      await advanceTestClock(db, 2000);
      expect(await f.get('a')).toBeUndefined();
      expect(await f.count()).toBe(1);
      expect((await collect(f.keys())).map(String)).toEqual(['b']);
      await f.clear();
      expect(await db.len()).toBe(0);
    } finally {
      await db.close();
    }
  });
});
