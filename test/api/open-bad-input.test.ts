/**
 * Bad input at open, one table: every file (or path) that is not a healthy
 * database of ours is refused with its own typed code, and neither the refused
 * open nor a second attempt changes a byte of it (SHA-256 before and after both),
 * nor leaves a lock file behind. A file another process holds is refused with
 * LOCKED and the holder's lock and data are left alone.
 *
 * Damage inside the records (bit flips before the tail hint) is covered by
 * recovery-bitflip.test.ts; this file is about the header and the file itself.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { crc32 } from '@node-rs/crc32';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Emdb, ErrorCode } from 'emdb-js';
import { FIXTURES, rmrf, tmpDir } from '../helpers/common.js';
import { DATA_START, SLOT_A, SLOT_B, pool, rng } from '../helpers/log-image.js';

// docs/FORMAT.md, prelude of format version 1
const PRELUDE_VERSION = 8;
const PRELUDE_FLAGS = 12;
const PRELUDE_DATA_START = 16;
const PRELUDE_CRC = 252;

const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** Recomputes the prelude CRC, so a changed field is judged on its own merits. */
function resealPrelude(image: Buffer): Buffer {
  image.writeUInt32LE(crc32(image.subarray(0, PRELUDE_CRC)), PRELUDE_CRC);
  return image;
}

function flipByte(image: Buffer, at: number): Buffer {
  const copy = Buffer.from(image);
  copy[at] = copy[at]! ^ 0x10;
  return copy;
}

interface Case {
  label: string;
  want: string;
  /** Bytes of the file to open, or 'directory' for a directory at the path. */
  bytes: () => Buffer | 'directory';
}

/** A fingerprint of what is at `target`: the file's SHA-256, or a directory's listing and contents. */
function fingerprint(target: string): string {
  if (!fs.statSync(target).isDirectory()) return sha(fs.readFileSync(target));
  return fs
    .readdirSync(target)
    .sort()
    .map((name) => `${name}:${sha(fs.readFileSync(path.join(target, name)))}`)
    .join(',');
}

async function openCode(target: string): Promise<string> {
  try {
    const db = await Emdb.open(target, { readers: 1 });
    await db.close();
    return 'opened';
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}

describe('bad input at open: typed error, file byte-identical', () => {
  let dir: string;
  let image: Buffer;
  let seq = 0;

  beforeAll(async () => {
    dir = tmpDir('emdb-badopen-');
    const file = path.join(dir, 'source.emdb');
    const db = await Emdb.open(file, { readers: 1 });
    for (let i = 0; i < 30; i++) await db.insert(`key-${i}`, `value-${i}-${'v'.repeat(i * 13)}`);
    await db.checkpoint();
    await db.insert('after-checkpoint', 'x');
    await db.close();
    image = fs.readFileSync(file);
    expect(image.length).toBeGreaterThan(DATA_START);
  });
  afterAll(() => rmrf(dir));

  const random = rng(0xbad1);
  const noise = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));

  const cases: Case[] = [
    { label: 'empty file', want: ErrorCode.NOT_A_DATABASE, bytes: () => Buffer.alloc(0) },
    { label: '100 random bytes', want: ErrorCode.NOT_A_DATABASE, bytes: () => noise(100) },
    { label: '20,000 random bytes', want: ErrorCode.NOT_A_DATABASE, bytes: () => noise(20_000) },
    { label: '1 MiB of zeros', want: ErrorCode.NOT_A_DATABASE, bytes: () => Buffer.alloc(1 << 20) },
    { label: 'a text file', want: ErrorCode.NOT_A_DATABASE, bytes: () => Buffer.from('not a database\n'.repeat(1000)) },
    { label: 'a directory', want: ErrorCode.INVALID_CONFIG, bytes: () => 'directory' },
    { label: 'format version 99', want: ErrorCode.UNSUPPORTED_VERSION, bytes: () => withU32(image, PRELUDE_VERSION, 99, false) },
    { label: 'format version 4 (newer than this build), prelude CRC valid', want: ErrorCode.UNSUPPORTED_VERSION, bytes: () => withU32(image, PRELUDE_VERSION, 4, true) },
    { label: 'prelude CRC field damaged', want: ErrorCode.CORRUPTION, bytes: () => flipByte(image, PRELUDE_CRC + 1) },
    { label: 'prelude byte damaged (created-at)', want: ErrorCode.CORRUPTION, bytes: () => flipByte(image, 113) },
    { label: 'prelude data-start field wrong, CRC valid', want: ErrorCode.CORRUPTION, bytes: () => withU32(image, PRELUDE_DATA_START, 8192, true) },
    { label: 'prelude claims encryption (opened without a key)', want: ErrorCode.INVALID_CONFIG, bytes: () => withU32(image, PRELUDE_FLAGS, 1, true) },
    { label: 'both header slots damaged', want: ErrorCode.CORRUPTION, bytes: () => flipByte(flipByte(image, SLOT_A + 17), SLOT_B + 17) },
    { label: 'both header slots zeroed', want: ErrorCode.CORRUPTION, bytes: () => Buffer.concat([image.subarray(0, SLOT_A), Buffer.alloc(DATA_START - SLOT_A), image.subarray(DATA_START)]) },
    // Creation is atomic (temp file, sync, rename): a file that holds our whole magic but ends inside the
    // header area is a damaged database, not a foreign file; one cut inside the magic cannot be told from one.
    ...[1, 255, SLOT_A + 40, SLOT_B + 1, DATA_START - 1].map(
      (cut): Case => ({ label: `truncated inside the header at byte ${cut}`, want: cut < 8 ? ErrorCode.NOT_A_DATABASE : ErrorCode.CORRUPTION, bytes: () => Buffer.from(image.subarray(0, cut)) }),
    ),
  ];

  function withU32(source: Buffer, at: number, value: number, reseal: boolean): Buffer {
    const copy = Buffer.from(source);
    copy.writeUInt32LE(value, at);
    return reseal ? resealPrelude(copy) : copy;
  }

  it(`${cases.length} kinds of bad input, each opened twice`, async () => {
    const failures: string[] = [];
    await pool(cases, 3, async (c) => {
      const target = path.join(dir, `case-${seq++}.emdb`);
      const bytes = c.bytes();
      if (bytes === 'directory') {
        fs.mkdirSync(target);
        fs.writeFileSync(path.join(target, 'inside.txt'), 'hello');
      } else {
        fs.writeFileSync(target, bytes);
      }
      const before = fingerprint(target);
      const problems: string[] = [];
      for (const attempt of ['first', 'second']) {
        const code = await openCode(target);
        if (code !== c.want) problems.push(`${attempt} open: got ${code}, want ${c.want}`);
        if (fingerprint(target) !== before) problems.push(`${attempt} open modified it`);
        if (fs.existsSync(`${target}.lock`)) problems.push(`${attempt} open left a lock file`);
      }
      const leftovers = fs.readdirSync(dir).filter((n) => n.startsWith(path.basename(target)) && n !== path.basename(target));
      if (leftovers.length) problems.push(`left ${leftovers.join(', ')}`);
      if (problems.length) failures.push(`${c.label}: ${problems.join('; ')}`);
    });
    expect(failures).toEqual([]);
  });

  it('a database another process holds → LOCKED twice; the holder’s lock and data are untouched', async () => {
    const file = path.join(dir, 'held.emdb');
    fs.writeFileSync(file, image);
    const holder = spawn(process.execPath, [path.join(FIXTURES, 'holder-child.js'), file], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      const first = await new Promise<string>((resolve) => {
        let out = '';
        holder.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('\n')) resolve(out.split('\n')[0]!);
        });
        holder.once('exit', () => resolve(`exited: ${out}`));
      });
      expect(first).toBe('ready');
      const before = fingerprint(file);
      const lock = fs.readFileSync(`${file}.lock`, 'utf8');
      for (const attempt of ['first', 'second']) {
        expect(await openCode(file), `${attempt} open`).toBe(ErrorCode.LOCKED);
        expect(fingerprint(file), `${attempt} open left the data alone`).toBe(before);
        expect(fs.readFileSync(`${file}.lock`, 'utf8'), `${attempt} open left the lock alone`).toBe(lock);
      }
    } finally {
      holder.kill('SIGKILL');
      await new Promise((resolve) => (holder.exitCode !== null || holder.signalCode !== null ? resolve(undefined) : holder.once('exit', resolve)));
    }
  });
});
