/**
 * The value encoding is part of the database (issue 12, defect 7). A format 3
 * file records it at creation (database and each namespace), and an open or
 * namespace() with another encoding is refused with ERR_EMDB_INVALID_CONFIG
 * before anything is read or written. A format 1/2 file records none: it
 * opens, and a value the chosen codec cannot read fails with
 * ERR_EMDB_INVALID_VALUE on every read path, never a raw SyntaxError or a
 * msgpackr error.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { crc32 } from '@node-rs/crc32';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Emdb, EmdbError, ErrorCode, rmrf, tmpDir } from '../helpers/common.js';
import { PRELUDE_CRC, PRELUDE_VERSION } from '../helpers/log-image.js';

const sha = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
/** docs/FORMAT.md: prelude byte 136 (format 3) holds the value encoding. */
const PRELUDE_VALUE_ENCODING = 136;
const BINARY_VALUES: [string, Uint8Array][] = [
  ['bin-a', Uint8Array.from([0xff, 0x00, 0x13, 0x80])],
  ['bin-b', Uint8Array.from([0xc1, 0xc1, 0xc1])],
  ['text', Buffer.from('not json at all')],
];

async function makeBinaryDb(file: string): Promise<void> {
  const db = await Emdb.open(file, { readers: 1 });
  for (const [k, v] of BINARY_VALUES) await db.insert(k, v);
  await db.close();
}

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    expect(err, String(err)).toBeInstanceOf(EmdbError);
    return (err as EmdbError).code;
  }
  return undefined;
}

describe('value encoding recorded at creation (format 3)', () => {
  let dir: string;
  beforeAll(() => (dir = tmpDir('emdb-encoding-')));
  afterAll(() => rmrf(dir));

  it('opening a binary database as json or msgpack is refused with ERR_EMDB_INVALID_CONFIG, file unchanged', async () => {
    const file = path.join(dir, 'binary.emdb');
    await makeBinaryDb(file);
    expect(fs.readFileSync(file)[PRELUDE_VALUE_ENCODING]).toBe(1);
    const before = sha(file);
    for (const valueEncoding of ['json', 'msgpack', 'utf8'] as const) {
      const err = await Emdb.open(file, { readers: 1, valueEncoding }).then(
        async (db) => {
          await db.close();
          return undefined;
        },
        (e: unknown) => e as EmdbError,
      );
      expect(err?.code, valueEncoding).toBe(ErrorCode.INVALID_CONFIG);
      expect(err?.message).toContain("'binary'");
      expect(sha(file)).toBe(before);
    }
    const db = await Emdb.open(file, { readers: 1, valueEncoding: 'binary' });
    expect(db.getSync('bin-a')).toEqual(Buffer.from(BINARY_VALUES[0]![1]));
    await db.close();
  });

  it('a namespace keeps the encoding it was created with', async () => {
    const file = path.join(dir, 'ns.emdb');
    const db = await Emdb.open(file, { readers: 1 });
    const docs = await db.namespace<{ n: number }>('docs', { valueEncoding: 'json' });
    await docs.insert('a', { n: 1 });
    await db.close();

    const again = await Emdb.open(file, { readers: 1 });
    try {
      expect(await codeOf(again.namespace('docs'))).toBe(ErrorCode.INVALID_CONFIG);
      expect(await codeOf(again.namespace('docs', { valueEncoding: 'msgpack' }))).toBe(ErrorCode.INVALID_CONFIG);
      const ok = await again.namespace<{ n: number }>('docs', { valueEncoding: 'json' });
      expect(ok.getSync('a')).toEqual({ n: 1 });
    } finally {
      await again.close();
    }
    // Also after the index snapshot was used (reopen without replaying the NS_CREATE record).
    const third = await Emdb.open(file, { readers: 1 });
    try {
      expect((await third.stats()).recovery.mode).toBe('snapshot');
      expect(await codeOf(third.namespace('docs'))).toBe(ErrorCode.INVALID_CONFIG);
    } finally {
      await third.close();
    }
  });
});

describe('a format 2 file (no recorded encoding) read with the wrong codec', () => {
  let dir: string;
  let file: string;
  beforeAll(async () => {
    dir = tmpDir('emdb-encoding-v2-');
    file = path.join(dir, 'v2.emdb');
    await makeBinaryDb(file);
    // Make it a format 2 file: version 2, byte 136 reserved (zero), prelude CRC resealed.
    const buf = fs.readFileSync(file);
    buf.writeUInt32LE(2, PRELUDE_VERSION);
    buf[PRELUDE_VALUE_ENCODING] = 0;
    buf.writeUInt32LE(crc32(buf.subarray(0, PRELUDE_CRC)), PRELUDE_CRC);
    fs.writeFileSync(file, buf);
  });
  afterAll(() => rmrf(dir));

  for (const valueEncoding of ['json', 'msgpack'] as const) {
    it(`${valueEncoding}: get, getSync, getMany and iter fail with ERR_EMDB_INVALID_VALUE`, async () => {
      const db = await Emdb.open(file, { readers: 1, valueEncoding });
      try {
        // The first value is not valid JSON, nor a complete msgpack value.
        expect(await codeOf(() => db.getSync('bin-a'))).toBe(ErrorCode.INVALID_VALUE);
        expect(await codeOf(db.get('bin-a'))).toBe(ErrorCode.INVALID_VALUE);
        expect(await codeOf(db.getMany(['bin-a', 'bin-b']))).toBe(ErrorCode.INVALID_VALUE);
        expect(
          await codeOf(async () => {
            for await (const entry of db.iter()) void entry;
          }),
        ).toBe(ErrorCode.INVALID_VALUE);
        expect(await codeOf(db.transaction(async (tx) => tx.get('bin-a')))).toBe(ErrorCode.INVALID_VALUE);
        expect(await attachedReadCodes(db.handle())).toEqual([ErrorCode.INVALID_VALUE, ErrorCode.INVALID_VALUE, ErrorCode.INVALID_VALUE, ErrorCode.INVALID_VALUE]);
      } finally {
        await db.close();
      }
    });
  }
});

/** getSync, get, getMany and iter on a thread attached with Emdb.attach: the error code each fails with. */
async function attachedReadCodes(handle: unknown): Promise<string[]> {
  const url = pathToFileURL(path.resolve(import.meta.dirname, '../../dist/src/index.js')).href;
  const worker = new Worker(
    `
    const { parentPort, workerData } = require('node:worker_threads');
    import(workerData.url).then(async ({ Emdb }) => {
      const db = await Emdb.attach(workerData.handle);
      const reads = [
        () => db.getSync('bin-a'),
        () => db.get('bin-a'),
        () => db.getMany(['bin-a', 'bin-b']),
        async () => { for await (const e of db.iter()) void e; },
      ];
      const codes = [];
      for (const read of reads) {
        try { await read(); codes.push('none'); }
        catch (err) { codes.push(err instanceof Error && err.name === 'EmdbError' ? err.code : 'not an EmdbError: ' + String(err)); }
      }
      await db.close();
      parentPort.postMessage(codes);
    });
    `,
    { eval: true, workerData: { url, handle } },
  );
  try {
    return await new Promise<string[]>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
  } finally {
    await worker.terminate();
  }
}
