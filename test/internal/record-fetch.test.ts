/**
 * Reading one record from the file when its page is not cached
 * (src/shm/record-fetch.ts): small and large records come back whole and
 * checked; a flipped byte, a record cut short, or an offset where no record
 * starts is ERR_EMDB_CORRUPTION at that offset; a retired generation answers
 * -1, and its descriptor is closed only once no iterator pins it (rule G1).
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RECORD_HEADER_SIZE } from '../../dist/src/format/constants.js';
import { GenerationFileWord } from '../../dist/src/shm/layout.js';
import { RecordFetch, newGenerationFile, retireGenerationFile } from '../../dist/src/shm/record-fetch.js';
import { tempDirs } from '../helpers/common.js';
import { putRecord } from '../helpers/put-record.js';

const dirs = tempDirs();


function logWith(records: Uint8Array[]): { file: string; offsets: number[] } {
  const file = path.join(dirs(), 'log');
  const offsets: number[] = [];
  let at = 100;
  const parts: Uint8Array[] = [new Uint8Array(at)];
  for (const r of records) {
    offsets.push(at);
    parts.push(r);
    at += r.length;
  }
  fs.writeFileSync(file, Buffer.concat(parts));
  return { file, offsets };
}

describe('RecordFetch', () => {
  it('reads small and large records whole', () => {
    const small = putRecord('a', 150, 7);
    const large = putRecord('b', 70_000, 9);
    const { file, offsets } = logWith([small, large]);
    const fd = fs.openSync(file, 'r');
    const gen = newGenerationFile(fd);
    const fetch = new RecordFetch();
    expect(fetch.fetch(gen, offsets[0]!)).toBe(small.length);
    expect(Buffer.from(fetch.bytes.subarray(0, small.length)).equals(small)).toBe(true);
    expect(fetch.fetch(gen, offsets[1]!)).toBe(large.length);
    expect(Buffer.from(fetch.bytes.subarray(0, large.length)).equals(large)).toBe(true);
    expect(gen[GenerationFileWord.IN_FLIGHT]).toBe(0);
    fs.closeSync(fd);
  });

  it('refuses damaged bytes with ERR_EMDB_CORRUPTION at the record', () => {
    const { file, offsets } = logWith([putRecord('a', 150, 7), putRecord('b', 10_000, 9)]);
    const bytes = fs.readFileSync(file);
    bytes[offsets[0]! + RECORD_HEADER_SIZE + 20]! ^= 0x10;
    fs.writeFileSync(file, bytes.subarray(0, offsets[1]! + 5000));
    const fd = fs.openSync(file, 'r');
    const gen = newGenerationFile(fd);
    const fetch = new RecordFetch();
    for (const lsn of [offsets[0]!, offsets[1]!, offsets[0]! + 8]) {
      let err: { code?: string; offset?: number } | undefined;
      try {
        fetch.fetch(gen, lsn);
      } catch (e) {
        err = e as typeof err;
      }
      expect(err?.code).toBe('ERR_EMDB_CORRUPTION');
      expect(err?.offset).toBe(lsn);
    }
    expect(gen[GenerationFileWord.IN_FLIGHT]).toBe(0);
    fs.closeSync(fd);
  });

  it('closes a retired generation only once nothing pins it', () => {
    const { file, offsets } = logWith([putRecord('a', 10, 1)]);
    const fd = fs.openSync(file, 'r');
    const gen = newGenerationFile(fd);
    const closed: number[] = [];
    Atomics.add(gen, GenerationFileWord.PINS, 1);
    expect(retireGenerationFile(gen, (n) => closed.push(n))).toBe(false);
    expect(new RecordFetch().fetch(gen, offsets[0]!)).toBeGreaterThan(0);
    Atomics.sub(gen, GenerationFileWord.PINS, 1);
    expect(retireGenerationFile(gen, (n) => closed.push(n))).toBe(true);
    expect(closed).toEqual([fd]);
    expect(new RecordFetch().fetch(gen, offsets[0]!)).toBe(-1);
    fs.closeSync(fd);
  });
});
