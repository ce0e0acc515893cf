/**
 * No file-descriptor leak: the writer and reader workers are threads of this
 * process, so every descriptor the database opens shows in /proc/self/fd. After
 * a warm-up cycle, 50 open/close cycles (plain, with compaction, and failed
 * opens: locked, corrupt, not a database, a directory) must leave the count
 * exactly where it was. A planted leak checks that the count can see one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Emdb, ErrorCode, rejectsWithCode, rmrf, scaled, tmpDir } from '../helpers/common.js';
import { rng, walkRecords } from '../helpers/log-image.js';

const PROC_FD = '/proc/self/fd';
const CYCLES = scaled(50);

function openFds(): Map<string, string> {
  const fds = new Map<string, string>();
  for (const fd of fs.readdirSync(PROC_FD)) {
    try {
      fds.set(fd, fs.readlinkSync(path.join(PROC_FD, fd)));
    } catch {
      // the descriptor readdir itself used, already closed
    }
  }
  return fds;
}

/** Descriptors open now that were not in `before`, described by target. */
function leakedSince(before: Map<string, string>): string[] {
  return [...openFds()].filter(([fd, target]) => before.get(fd) !== target).map(([fd, target]) => `${fd} → ${target}`);
}

/**
 * Thread teardown (each worker's event loop owns an epoll fd and an eventfd) can
 * finish a little after close() resolved, later still on a loaded machine: poll
 * for up to 5 s. A real leak stays.
 */
async function settledLeaks(before: Map<string, string>): Promise<string[]> {
  let leaked = leakedSince(before);
  for (let i = 0; i < 100 && leaked.length > 0; i++) {
    await sleep(50);
    leaked = leakedSince(before);
  }
  return leaked;
}

describe.skipIf(!fs.existsSync(PROC_FD))('file descriptors', () => {
  let dir: string;
  let corrupt: string;
  let foreign: string;

  beforeAll(async () => {
    dir = tmpDir('emdb-fds-');
    const source = path.join(dir, 'source.emdb');
    const db = await Emdb.open(source, { readers: 1 });
    for (let i = 0; i < 20; i++) await db.insert(`k${i}`, `value ${i}`);
    await db.close();
    // A flipped byte inside the last record, before the tail hint: CORRUPTION at open.
    const image = fs.readFileSync(source);
    const last = walkRecords(image).records.at(-1)!;
    image[last.end - 1] = image[last.end - 1]! ^ 0xff;
    corrupt = path.join(dir, 'corrupt.emdb');
    fs.writeFileSync(corrupt, image);
    const random = rng(0xfd);
    foreign = path.join(dir, 'foreign.bin');
    fs.writeFileSync(foreign, Buffer.from(Array.from({ length: 30_000 }, () => Math.floor(random() * 256))));
    fs.mkdirSync(path.join(dir, 'a-directory'));
  });
  afterAll(() => rmrf(dir));

  const kinds = ['plain', 'compaction', 'locked', 'corrupt', 'not a database', 'directory'] as const;
  type Kind = (typeof kinds)[number];

  async function cycle(kind: Kind, n: number): Promise<void> {
    const file = path.join(dir, `db-${n % 3}.emdb`);
    switch (kind) {
      case 'plain':
      case 'compaction': {
        const db = await Emdb.open(file, { readers: 1 });
        for (let i = 0; i < 50; i++) await db.insert(`k${i % 7}`, `v${n}:${i}`);
        await db.flush();
        if (kind === 'compaction') await db.compact();
        expect(db.getSync('k1')).toBeDefined();
        await db.close();
        return;
      }
      case 'locked': {
        const db = await Emdb.open(file, { readers: 1 });
        await rejectsWithCode(Emdb.open(file, { readers: 1 }), ErrorCode.LOCKED);
        await db.close();
        return;
      }
      case 'corrupt':
        return rejectsWithCode(Emdb.open(corrupt, { readers: 1 }), ErrorCode.CORRUPTION);
      case 'not a database':
        return rejectsWithCode(Emdb.open(foreign, { readers: 1 }), ErrorCode.NOT_A_DATABASE);
      case 'directory':
        return rejectsWithCode(Emdb.open(path.join(dir, 'a-directory'), { readers: 1 }), ErrorCode.INVALID_CONFIG);
    }
  }

  it(`${CYCLES} open/close cycles, failed opens included, leak no descriptor`, async () => {
    for (const kind of kinds) await cycle(kind, 0); // warm-up: lazily opened process-wide descriptors
    await sleep(100);
    const before = openFds();
    const done = new Map<Kind, number>();
    for (let n = 0; n < CYCLES; n++) {
      const kind = kinds[n % kinds.length]!;
      await cycle(kind, n);
      done.set(kind, (done.get(kind) ?? 0) + 1);
    }
    const leaked = await settledLeaks(before);
    const after = openFds().size;
    console.log(
      `[fd-leak] ${CYCLES} cycles (${[...done].map(([k, c]) => `${c} ${k}`).join(', ')}): ${before.size} descriptors before, ${after} after, ${leaked.length} leaked${leaked.length ? `: ${leaked.join(', ')}` : ''}`,
    );
    expect(leaked).toEqual([]);
  });

  it('negative control: a planted leak of three descriptors is seen', () => {
    const before = openFds();
    const planted = [0, 1, 2].map(() => fs.openSync(path.join(dir, 'source.emdb'), 'r'));
    try {
      const leaked = leakedSince(before);
      expect(leaked).toHaveLength(3);
      expect(leaked.every((l) => l.endsWith('source.emdb'))).toBe(true);
    } finally {
      planted.forEach((fd) => fs.closeSync(fd));
    }
  });
});
