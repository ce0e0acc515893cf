/**
 * Closing a database read through the page cache while an attached thread
 * reads it: the reads that meet the closed descriptors report ERR_EMDB_CLOSED,
 * as with the whole log in memory, never ERR_EMDB_IO (a "retired generation").
 * The writer marks the database CLOSED before it closes the descriptors.
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Emdb, ErrorCode, FIXTURES, tempDirs } from '../helpers/common.js';

const TINY = 128 * 1024;
const KEYS = 3000;

async function closeWhileReading(dir: string, mode: 'get' | 'iter'): Promise<{ code?: string; message: string; reads: number }> {
  const db = await Emdb.open<Buffer>(path.join(dir, 'db.emdb'), { cacheSize: TINY });
  await db.insertMany(Array.from({ length: KEYS }, (_, i) => [`key-${i}`, Buffer.alloc(2000, i & 0xff)] as [string, Buffer]));
  const worker = new Worker(path.join(FIXTURES, 'attached-read-loop.js'), { workerData: { handle: db.handle(), mode, keys: KEYS } });
  try {
    const messages: { t: string; code?: string; message: string; reads: number }[] = [];
    worker.on('message', (m: (typeof messages)[number]) => messages.push(m));
    // Reads are under way (a hundred done, on a loaded machine that can take a while), so the close lands in one.
    while (!messages.some((m) => m.t === 'reading')) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 20));
    await db.close();
    const deadline = Date.now() + 10_000;
    while (!messages.some((m) => m.t === 'error') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    return messages.find((m) => m.t === 'error') ?? { message: 'the worker never failed', reads: -1 };
  } finally {
    await worker.terminate();
  }
}

describe('close while an attached thread reads through the page cache', () => {
  const newDir = tempDirs('emdb-cache-close-');

  for (const mode of ['get', 'iter'] as const) {
    it(`${mode === 'get' ? 'getSync' : 'iter()'}: the read the close interrupts reports ERR_EMDB_CLOSED, five times out of five`, async () => {
      const codes: string[] = [];
      for (let round = 0; round < 5; round++) {
        const got = await closeWhileReading(newDir(), mode);
        expect(got.reads).toBeGreaterThan(0);
        codes.push(`${got.code}: ${got.message}`);
      }
      expect(codes.filter((c) => !c.startsWith(`${ErrorCode.CLOSED}:`))).toEqual([]);
    });
  }
});
