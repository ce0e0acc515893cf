import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb } from 'emdb-js';
import { tempDirs } from '../helpers/common.js';

describe('compaction', () => {
  const newDir = tempDirs();

  it('keeps exactly the live records (namespaces too), shrinks the file, and survives reopen', async () => {
    const dir = newDir();
    const file = path.join(dir, 'c.emdb');
    const db = await Emdb.open(file, { readers: 1 });
    const n = 20_000;
    await db.insertMany(Array.from({ length: n }, (_, i) => [`k${i}`, `v${i}`.padEnd(100, '.')] as [string, string]));
    for (let i = 0; i < n; i += 2) await db.remove(`k${i}`);
    await db.insert('k1', 'rewritten');
    const ns = await db.namespace('side');
    await ns.insert('s', 'side value');
    await db.dropNamespace('gone').then(() => db.namespace('gone')).then((g) => g.insert('x', 'y'));
    await db.dropNamespace('gone');
    // The log, not the file: while open the file may end in preallocated zeros.
    const before = (await db.stats()).fileBytes;
    const report = await db.compact();
    expect(report.bytesBefore).toBe(before);
    expect(report.bytesAfter).toBe(fs.statSync(file).size);
    expect(report.bytesAfter).toBeLessThan(before * 0.6);
    expect(report.keysKept).toBe(n / 2 + 1);
    expect(fs.existsSync(`${file}.compact`)).toBe(false);
    // Reads after the switch, then writes into the compacted log.
    expect(db.getSync('k1')?.toString()).toBe('rewritten');
    expect(await db.get('k0')).toBeUndefined();
    expect(ns.getSync('s')?.toString()).toBe('side value');
    await db.insert('after', 'compaction');
    expect(await db.len()).toBe(n / 2 + 1);
    await db.close();

    const again = await Emdb.open(file, { readers: 1 });
    expect(await again.len()).toBe(n / 2 + 1);
    expect(again.getSync('k3')?.toString()).toBe('v3'.padEnd(100, '.'));
    expect(again.getSync('after')?.toString()).toBe('compaction');
    expect(await again.namespaces()).toEqual(['side']);
    expect((await again.namespace('side')).getSync('s')?.toString()).toBe('side value');
    let count = 0;
    for await (const _entry of again.iter()) count++;
    expect(count).toBe(n / 2 + 1);
    await again.close();
  });

  it('never fails a concurrent read and loses no concurrent write', async () => {
    const db = await Emdb.openInMemory({ readers: 2 });
    await db.insertMany(Array.from({ length: 30_000 }, (_, i) => [`k${i}`, `v${i}`] as [string, string]));
    for (let i = 0; i < 30_000; i += 3) await db.remove(`k${i}`);
    let stop = false;
    let bad = 0;
    const reader = (async () => {
      while (!stop) {
        for (let i = 1; i < 30_000; i += 301) if (i % 3 !== 0 && db.getSync(`k${i}`)?.toString() !== `v${i}`) bad++;
        const got = await db.getMany(['k1', 'k2', 'k4']);
        if (got.some((v) => v === undefined)) bad++;
        await new Promise((r) => setImmediate(r));
      }
    })();
    const writes = Array.from({ length: 200 }, (_, i) => db.insert(`during${i}`, `w${i}`));
    await Promise.all([db.compact(), ...writes]);
    stop = true;
    await reader;
    expect(bad).toBe(0);
    for (let i = 0; i < 200; i++) expect(db.getSync(`during${i}`)?.toString()).toBe(`w${i}`);
    await db.close();
  });

  it('removes an orphan temp file left by a crashed compaction on open', async () => {
    const dir = newDir();
    const file = path.join(dir, 'c.emdb');
    const db = await Emdb.open(file, { readers: 1 });
    await db.insert('k', 'v');
    await db.close();
    fs.writeFileSync(`${file}.compact`, 'half-written compaction');
    const again = await Emdb.open(file, { readers: 1 });
    expect(fs.existsSync(`${file}.compact`)).toBe(false);
    expect(again.getSync('k')?.toString()).toBe('v');
    await again.close();
  });
});
