/**
 * The opener reads the index snapshot's table while the writer thread boots
 * (core/snapshot-prefetch.ts); the writer's readSnapshot uses that table only
 * when the header it reads itself is byte-identical, and checks the body CRC
 * over it as over its own read. A table that differs from the file is never
 * served, and one read against another header is ignored.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Emdb } from '../../dist/src/index.js';
import { prefetchSnapshot } from '../../dist/src/core/snapshot-prefetch.js';
import { decodeSnapshotHeader, snapshotPath } from '../../dist/src/format/snapshot.js';
import { nodeFileIO } from '../../dist/src/log/file-io.js';
import { readSnapshot } from '../../dist/src/writer/snapshot.js';

let dir: string;
let file: string;

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emdb-prefetch-'));
  file = path.join(dir, 'db.emdb');
  const db = await Emdb.open(file);
  await db.insertMany(Array.from({ length: 2_000 }, (_, i) => [`key-${i}`, `value-${i}`] as [string, string]));
  await db.close();
});

afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The writer's read of the snapshot, as open-log.ts makes it (a tail hint past the snapshot's tail). */
function read(prefetched?: Awaited<ReturnType<typeof prefetchSnapshot>>) {
  const header = decodeSnapshotHeader(fs.readFileSync(snapshotPath(file)))!;
  return readSnapshot(nodeFileIO, file, header.fileId, Number.MAX_SAFE_INTEGER, undefined, prefetched);
}

describe('index snapshot prefetch', () => {
  it('reads the table of a clean close into a SharedArrayBuffer the writer accepts', async () => {
    const prefetched = await prefetchSnapshot(file);
    expect(prefetched).toBeDefined();
    expect(prefetched!.table).toBeInstanceOf(SharedArrayBuffer);
    const onDisk = fs.readFileSync(snapshotPath(file));
    expect(Buffer.from(prefetched!.table).equals(onDisk.subarray(prefetched!.header.length, prefetched!.header.length + prefetched!.table.byteLength))).toBe(true);
    expect(read(prefetched)?.header.indexLive).toBe(read()?.header.indexLive);
  });

  it('a prefetched table that differs from the file fails the body CRC: the snapshot is not used', async () => {
    const prefetched = (await prefetchSnapshot(file))!;
    const table = new Uint8Array(prefetched.table);
    table[table.length >> 1]! ^= 0x10;
    expect(read(prefetched)).toBeUndefined();
    // The file itself is intact: the writer's own read accepts it.
    expect(read()).toBeDefined();
  });

  it('a table read under another header is ignored: the writer reads the file itself', async () => {
    const prefetched = (await prefetchSnapshot(file))!;
    new Uint8Array(prefetched.table).fill(0xee);
    const header = prefetched.header.slice();
    header[header.length - 1]! ^= 1;
    expect(read({ header, table: prefetched.table })).toBeDefined();
  });

  it('no snapshot, or a header that does not decode: nothing is prefetched', async () => {
    expect(await prefetchSnapshot(path.join(dir, 'missing.emdb'))).toBeUndefined();
    const bytes = fs.readFileSync(snapshotPath(file));
    bytes[0]! ^= 0xff;
    fs.writeFileSync(snapshotPath(file), bytes);
    expect(await prefetchSnapshot(file)).toBeUndefined();
  });

  it('a reopen with a damaged table on disk replays the log and serves every value', async () => {
    const bytes = fs.readFileSync(snapshotPath(file));
    bytes[bytes.length >> 1]! ^= 0x10;
    fs.writeFileSync(snapshotPath(file), bytes);
    const db = await Emdb.open(file);
    try {
      expect((await db.stats()).recovery?.mode).toBe('full');
      for (let i = 0; i < 2_000; i += 97) expect(Buffer.from(db.getSync(`key-${i}`)!).toString()).toBe(`value-${i}`);
    } finally {
      await db.close();
    }
  });
});
