/**
 * The format 3 PREFIX_DELETE record kind (reserved for nested keys' group
 * delete, issue 14): encoded and decoded in src/format, applied by the writer
 * exactly like recovery applies it (one record removes every key of its
 * namespace that starts with the prefix, crash-atomically), and refused in a
 * format 2 file, which does not define it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RECORD_HEADER_SIZE, RecordKind } from '../../dist/src/format/constants.js';
import { checkRecord, prefixDeleteRecord, readPrefixDelete } from '../../dist/src/format/record.js';
import { nodeFileIO } from '../../dist/src/log/file-io.js';
import { readEngineState } from '../../dist/test/helpers/engine-state.js';
import { trackedFileIO } from '../../dist/test/helpers/tracked-io.js';
import { rmrf, tmpDir } from '../helpers/common.js';
import { encodeUnits, newEngine } from '../helpers/sim/engine-harness.js';

const KEYS = ['user.1', 'user.2', 'user.10', 'user', 'users', 'other', 'use'];
const KEPT = ['user', 'users', 'other', 'use'];

/** Opens an engine on `file`, runs `fn`, then drops its descriptors without a close (a crash). */
function withEngine<T>(file: string, fn: (engine: ReturnType<typeof newEngine>) => T): T {
  const fds = new Set<number>();
  const engine = newEngine(trackedFileIO(fds), { kind: 'onEachFlush' }, file);
  try {
    engine.open();
    return fn(engine);
  } finally {
    for (const fd of fds) nodeFileIO.close(fd);
  }
}

function keysOf(engine: ReturnType<typeof newEngine>): string[] {
  const { state, problems } = readEngineState(engine);
  expect(problems).toEqual([]);
  return [...(state.get('')?.keys() ?? [])].sort();
}

describe('PREFIX_DELETE record (format 3)', () => {
  let dir: string;
  beforeAll(() => (dir = tmpDir('emdb-prefix-delete-')));
  afterAll(() => rmrf(dir));

  it('encodes and decodes: kind, namespace and prefix survive, the CRC covers them', () => {
    const rec = prefixDeleteRecord(7, Buffer.from('user.'));
    const dv = new DataView(rec.buffer);
    expect(checkRecord(rec, dv, 0, rec.length)).toBe(RECORD_HEADER_SIZE + 5);
    expect(rec[8]).toBe(RecordKind.PREFIX_DELETE);
    const { namespace, prefix } = readPrefixDelete(rec, dv, 0);
    expect(namespace).toBe(7);
    expect(Buffer.from(prefix).toString()).toBe('user.');
    rec[RECORD_HEADER_SIZE]! ^= 1;
    expect(checkRecord(rec, dv, 0, rec.length)).toBeLessThan(0);
  });

  it('removes exactly the keys with the prefix, live and after recovery replays it', () => {
    const file = path.join(dir, 'v3.emdb');
    withEngine(file, (engine) => {
      const { batch, records } = encodeUnits(KEYS.map((k) => ({ t: 'put' as const, k, v: `v-${k}` })));
      engine.append(batch, false, records);
      engine.append(prefixDeleteRecord(0, Buffer.from('user.')), false, 0);
      engine.flush();
      expect(keysOf(engine)).toEqual([...KEPT].sort());
      expect(engine.count(0)).toBe(KEPT.length);
    });
    withEngine(file, (engine) => {
      expect(keysOf(engine)).toEqual([...KEPT].sort());
      expect(engine.count(0)).toBe(KEPT.length);
    });
  });

  it('is refused as corruption in a format 2 file, which does not define the kind', () => {
    const file = path.join(dir, 'v3-for-v2.emdb');
    withEngine(file, (engine) => {
      const { batch, records } = encodeUnits(KEYS.map((k) => ({ t: 'put' as const, k, v: `v-${k}` })));
      engine.append(batch, false, records);
      engine.append(prefixDeleteRecord(0, Buffer.from('user.')), false, 0);
      engine.checkpoint();
    });
    // Same bytes, prelude version 2 (its CRC resealed): the record before the tail hint is now an unknown kind.
    const buf = fs.readFileSync(file);
    buf.writeUInt32LE(2, 8);
    buf[136] = 0;
    // CRC32 of [0, 252), little-endian at 252 (docs/FORMAT.md, prelude).
    buf.writeUInt32LE(crc(buf.subarray(0, 252)), 252);
    fs.writeFileSync(file, buf);
    fs.rmSync(`${file}.index`, { force: true });
    let code: string | undefined;
    try {
      withEngine(file, () => undefined);
    } catch (err) {
      code = (err as { code?: string }).code;
    }
    expect(code).toBe('ERR_EMDB_CORRUPTION');
  });
});

function crc(bytes: Uint8Array): number {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}
