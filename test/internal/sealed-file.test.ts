/**
 * Reading a sealed (record scheme 2) log through the page cache on any
 * thread (src/shm/sealed-file.ts): the mirror form of any byte range comes
 * back exactly (units decrypted, durable marks and the header as they are);
 * reads stop at the directory's published end (rule U2) even where more is
 * noted; a flipped byte in a unit or another key's unit is
 * ERR_EMDB_CORRUPTION at the unit's opener; a thread that reads several
 * records of one unit opens it once; a read stops at the end of the unit
 * that holds its first byte (a record fetch reading past its record opens
 * one unit, not two).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BatchCrypt } from '../../dist/src/crypto/batch-crypt.js';
import { RecordCrypt } from '../../dist/src/crypto/record-crypt.js';
import { DATA_START, RECORD_HEADER_SIZE } from '../../dist/src/format/constants.js';
import { newUnitDirectory, SealedReader, UnitDirectory } from '../../dist/src/shm/sealed-file.js';
import { ErrorCode, tempDirs } from '../helpers/common.js';
import { putRecord } from '../helpers/put-record.js';
import { rng } from '../helpers/log-image.js';

const dirs = tempDirs();
const AES = 1;


interface SealedLog {
  file: string;
  key: Uint8Array;
  /** The mirror form of the whole file (header included). */
  mirror: Uint8Array;
  directory: UnitDirectory;
  /** Opener LSNs of the units, in order. */
  units: number[];
}

/** A log of `batches` append batches sealed as the writer seals them, its directory noted batch by batch and published. */
function sealedLog(batches: number, seed: number): SealedLog {
  const key = crypto.randomBytes(32);
  const batch = new BatchCrypt(new RecordCrypt({ cipher: 'aes-256-gcm', records: key, snapshot: new Uint8Array(0), mac: new Uint8Array(0) }));
  const random = rng(seed);
  const fileParts: Uint8Array[] = [new Uint8Array(DATA_START).fill(7)];
  const mirrorParts: Uint8Array[] = [new Uint8Array(DATA_START).fill(7)];
  const directory = new UnitDirectory(newUnitDirectory(DATA_START));
  let lsn = DATA_START;
  for (let b = 0; b < batches; b++) {
    const records: Uint8Array[] = [];
    // Some batches carry one record larger than a unit (a unit of its own) or than a page.
    const count = 1 + Math.floor(random() * 300);
    for (let i = 0; i < count; i++) records.push(putRecord(`k${b}-${i}`, Math.floor(random() * (random() < 0.02 ? 150_000 : 900)), (b + i) & 0xff));
    const { file, mirror } = batch.encryptBatch(Buffer.concat(records), lsn);
    directory.noteBytes(lsn, mirror);
    fileParts.push(file);
    mirrorParts.push(mirror);
    lsn += file.length;
    directory.publishTo(lsn);
  }
  const file = path.join(dirs(), 'sealed.log');
  fs.writeFileSync(file, Buffer.concat(fileParts));
  const mirror = new Uint8Array(Buffer.concat(mirrorParts));
  const units: number[] = [];
  const dv = new DataView(mirror.buffer);
  for (let at = DATA_START; at < mirror.length; ) {
    units.push(at);
    at += RECORD_HEADER_SIZE + dv.getUint32(at + 20, true) + dv.getUint32(at + 44, true);
  }
  return { file, key, mirror, directory, units };
}

function countingRead(): { read: (fd: number, buf: Uint8Array, off: number, len: number, pos: number) => number; calls: () => number } {
  let calls = 0;
  return {
    read: (fd, buf, off, len, pos) => {
      calls++;
      return fs.readSync(fd, buf, off, len, pos);
    },
    calls: () => calls,
  };
}

/** Reads as every caller does: on from where a short read ended (a read stops at the end of a unit), until 0. */
function readRange(reader: SealedReader, fd: number, pos: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  let got = 0;
  while (got < len) {
    const n = reader.read(fd, out, got, len - got, pos + got);
    if (n <= 0) break;
    got += n;
  }
  return out.subarray(0, got);
}

describe('a sealed log read through its unit directory', () => {
  it('returns the mirror form of any range: units decrypted, the header as it is', () => {
    const log = sealedLog(60, 0x5ea1);
    const reader = new SealedReader({ cipher: AES, key: log.key, directory: log.directory.sab }, fs.readSync);
    const fd = fs.openSync(log.file, 'r');
    try {
      const random = rng(0xd1ce);
      let mismatches = 0;
      for (let i = 0; i < 400; i++) {
        const pos = Math.floor(random() * log.mirror.length);
        const len = 1 + Math.floor(random() * (random() < 0.1 ? 200_000 : 3000));
        const got = readRange(reader, fd, pos, len);
        const want = log.mirror.subarray(pos, Math.min(log.mirror.length, pos + len));
        if (!Buffer.from(got).equals(Buffer.from(want))) mismatches++;
      }
      expect(mismatches).toBe(0);
      expect(Buffer.from(readRange(reader, fd, 0, DATA_START + 100)).equals(Buffer.from(log.mirror.subarray(0, DATA_START + 100)))).toBe(true);
      expect(log.units.length).toBeGreaterThan(60);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('reads no byte past the published end (U2), though more is noted', () => {
    const log = sealedLog(8, 0xe4d);
    const reader = new SealedReader({ cipher: AES, key: log.key, directory: log.directory.sab }, fs.readSync);
    const fd = fs.openSync(log.file, 'r');
    try {
      const cut = log.units[log.units.length - 2]!;
      log.directory.publishTo(cut);
      const got = readRange(reader, fd, cut - 500, 5000);
      expect(got.length).toBe(500);
      expect(Buffer.from(got).equals(Buffer.from(log.mirror.subarray(cut - 500, cut)))).toBe(true);
      // Noting an append again (an append cut back after ENOSPC is written anew) publishes nothing by itself.
      const again = log.mirror.subarray(cut);
      log.directory.noteBytes(cut, again);
      expect(readRange(reader, fd, cut, 100).length).toBe(0);
      log.directory.publishTo(log.mirror.length);
      expect(Buffer.from(readRange(reader, fd, cut, 100)).equals(Buffer.from(log.mirror.subarray(cut, cut + 100)))).toBe(true);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('a flipped byte in a unit, or another key, is ERR_EMDB_CORRUPTION at the unit; other units still read', () => {
    const log = sealedLog(20, 0xbad);
    const victim = log.units[Math.floor(log.units.length / 2)]!;
    const next = log.units[log.units.indexOf(victim) + 1]!;
    const bytes = fs.readFileSync(log.file);
    bytes[victim + 72 + 40] = bytes[victim + 72 + 40]! ^ 0x01;
    fs.writeFileSync(log.file, bytes);
    const fd = fs.openSync(log.file, 'r');
    try {
      const reader = new SealedReader({ cipher: AES, key: log.key, directory: log.directory.sab }, fs.readSync);
      let caught: unknown;
      try {
        readRange(reader, fd, victim + 80, 100);
      } catch (err) {
        caught = err;
      }
      expect(caught).toMatchObject({ code: ErrorCode.CORRUPTION, offset: victim });
      expect(Buffer.from(readRange(reader, fd, next, 200)).equals(Buffer.from(log.mirror.subarray(next, next + 200)))).toBe(true);
      const stranger = new SealedReader({ cipher: AES, key: crypto.randomBytes(32), directory: log.directory.sab }, fs.readSync);
      expect(() => readRange(stranger, fd, next, 200)).toThrow(expect.objectContaining({ code: ErrorCode.CORRUPTION, offset: next }));
    } finally {
      fs.closeSync(fd);
    }
  });

  it('opens a unit once for several reads inside it', () => {
    const log = sealedLog(6, 0x0ce);
    const counting = countingRead();
    const reader = new SealedReader({ cipher: AES, key: log.key, directory: log.directory.sab }, counting.read);
    const fd = fs.openSync(log.file, 'r');
    try {
      const unit = log.units[2]!;
      readRange(reader, fd, unit + 100, 64);
      const after = counting.calls();
      for (let i = 0; i < 20; i++) readRange(reader, fd, unit + 100 + i * 500, 64);
      expect(counting.calls()).toBe(after);
      reader.forget();
      readRange(reader, fd, unit + 100, 64);
      expect(counting.calls()).toBeGreaterThan(after);
      // One call, across the unit's end: it stops there.
      const next = log.units[3]!;
      const out = new Uint8Array(2000);
      expect(reader.read(fd, out, 0, 2000, next - 100)).toBe(100);
    } finally {
      fs.closeSync(fd);
    }
  });
});
