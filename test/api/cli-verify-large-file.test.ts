/**
 * verify on a healthy database larger than its 8 MiB read window (found while
 * fixing the outside report): a record that straddled the window's end failed
 * the structural check against the window instead of the file, and verify
 * reported "DAMAGE ... truncated record", exit 3, on an intact file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Emdb, run, tmp } from './cli-helpers.js';

const dir = tmp();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('verify on a database larger than its read window', () => {
  it('18 MB of 3 KB records verify ok, exit 0', async () => {
    const file = path.join(dir, 'big.emdb');
    const db = await Emdb.open(file, { readers: 1 });
    // 3,001-byte values: records do not line up with the 8 MiB window, so one straddles its end.
    await db.insertMany(Array.from({ length: 6000 }, (_, i) => [`k${i}`, Buffer.alloc(3001, i)] as const));
    await db.close();
    expect(fs.statSync(file).size).toBeGreaterThan(16 << 20);
    const r = await run(['verify', file, '--json']);
    expect(r.code, r.stdout.toString()).toBe(0);
    const report = JSON.parse(r.stdout.toString()) as { ok: boolean; records: number; end: number };
    expect(report).toMatchObject({ ok: true, end: fs.statSync(file).size });
    // The 6,000 writes, and a TX_BEGIN / TX_COMMIT pair around each of insertMany's chunks.
    expect(report.records).toBeGreaterThanOrEqual(6002);
    expect((report.records - 6000) % 2).toBe(0);
  });
});
