/**
 * Reopen from the index snapshot (`<path>.index`, written at checkpoint and
 * close): a reopen replays only the records after the snapshot's tail, and the
 * result is the same database a full replay builds (contents, per-namespace
 * counts, live/dead bytes, namespace ids). A snapshot that is missing, damaged,
 * foreign, newer than the log's tail hint, or made from other bytes than the
 * log now holds is ignored (full replay, never an error). Damage to the log
 * before its tail hint stays ERR_EMDB_CORRUPTION at the damaged record, with
 * the database file and the snapshot byte-identical afterwards.
 *
 * Most cases run the writer's open on this thread (withInProcessEngine: many
 * opens per second); a few go through Emdb.open. "Killed" means the engine is
 * dropped without close(), so nothing is checkpointed, as after kill -9.
 */
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from '@node-rs/crc32';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecordKind } from '../../dist/src/format/constants.js';
import { logCrc } from '../../dist/src/log/prefix-crc.js';
import { MirrorWriter } from '../../dist/src/shm/mirror.js';
import { Emdb, ErrorCode, tempDirs } from '../helpers/common.js';
import {
  DATA_START,
  HEADER,
  PRELUDE_CRC,
  PRELUDE_FILE_ID,
  PRELUDE_VERSION,
  SLOT_A,
  SLOT_B,
  SLOT_CRC,
  SLOT_FLAG_PREFIX_CRC,
  SLOT_FLAGS,
  SLOT_PREFIX_CRC,
  SLOT_SEQUENCE,
  SNAPSHOT_FILE_ID,
  SNAPSHOT_HEADER_CRC,
  SNAPSHOT_PREFIX_CRC,
  SNAPSHOT_TAIL,
  rng,
  walkRecords,
  withInProcessEngine,
} from '../helpers/log-image.js';
import { failureOf, normalized, openAndRead, resealSlots, run, sha, workload, type Model } from '../helpers/reopen-harness.js';

describe('reopen from the index snapshot', () => {
  const newDir = tempDirs('emdb-fast-reopen-');
  // These cases are about the open that reads and checks the whole log (prefix CRC, damage as an open error):
  // the lazy open a parametrised run forces on small logs (npm run test:lazy) has its own suite, lazy-open.test.ts.
  const lazyMin = process.env.EMDB_LAZY_OPEN_MIN_BYTES;
  beforeAll(() => {
    delete process.env.EMDB_LAZY_OPEN_MIN_BYTES;
  });
  afterAll(() => {
    if (lazyMin !== undefined) process.env.EMDB_LAZY_OPEN_MIN_BYTES = lazyMin;
  });

  /** A database after `ops`, checkpointed by a clean close (snapshot written). */
  function closedDatabase(dir: string, name: string, seed: number, n: number): { file: string; model: Model } {
    const file = path.join(dir, name);
    const model: Model = new Map();
    withInProcessEngine(file, (engine) => {
      run(engine, model, workload(seed, n));
      engine.close();
    });
    return { file, model };
  }

  it('after a clean close: nothing replayed, and the same database as a full replay (contents, counts, bytes, namespace ids)', async () => {
    const dir = newDir();
    const { file, model } = closedDatabase(dir, 'db.emdb', 1, 1500);
    expect(fs.existsSync(`${file}.index`)).toBe(true);
    const size = fs.statSync(file).size;
    const fast = openAndRead(file);
    expect(fast).toMatchObject({ mode: 'snapshot', records: 0, from: size, prefixVerified: true });
    expect(fast.state).toEqual(normalized(model));

    // The same log without its snapshot: every record replayed, same result.
    const copy = path.join(dir, 'copy.emdb');
    fs.copyFileSync(file, copy);
    const full = openAndRead(copy);
    expect(full.mode).toBe('full');
    expect(full.records).toBe(walkRecords(fs.readFileSync(file)).records.length);
    expect(full.prefixVerified).toBe(true);
    expect(fast.state).toEqual(full.state);
    expect(fast.stats).toEqual(full.stats);
    expect(fast.nextNamespace).toBe(full.nextNamespace);

    // Through the public API.
    const db = await Emdb.open(file, { readers: 1 });
    try {
      const stats = await db.stats();
      expect(stats.recovery).toMatchObject({ mode: 'snapshot', recordsReplayed: 0, replayedFrom: size });
      expect(stats.indexSnapshot.tail).toBe(size);
      expect(await db.len()).toBe(model.get('')?.size ?? 0);
      const users = await db.namespace('users');
      expect(await users.len()).toBe(model.get('users')!.size);
      for (const [k, v] of model.get('users')!) expect(users.getSync(k)?.toString()).toBe(v);
    } finally {
      await db.close();
    }
  });

  it('stale snapshot (writes after the checkpoint, then killed): only the records after it are replayed', () => {
    const dir = newDir();
    const file = path.join(dir, 'db.emdb');
    const model: Model = new Map();
    let checkpointed = 0;
    let after = 0;
    withInProcessEngine(file, (engine) => {
      run(engine, model, workload(2, 800));
      engine.checkpoint();
      checkpointed = engine.stats().fileBytes;
      expect(engine.stats().indexSnapshot.tail).toBe(checkpointed);
      const before = engine.stats().writes;
      // A few records do not make a checkpoint rewrite the snapshot (replaying them is cheaper).
      run(engine, model, workload(13, 3));
      engine.checkpoint();
      expect(engine.stats().tailHint).toBeGreaterThan(checkpointed);
      expect(engine.stats().indexSnapshot.tail).toBe(checkpointed);
      run(engine, model, workload(3, 300));
      engine.flush();
      after = engine.stats().writes - before;
      // killed: no close, no checkpoint
    });
    const reopened = openAndRead(file);
    expect(reopened).toMatchObject({ mode: 'snapshot', from: checkpointed, records: after });
    expect(after).toBeGreaterThan(303);
    expect(reopened.state).toEqual(normalized(model));
    const copy = path.join(dir, 'copy.emdb');
    fs.copyFileSync(file, copy);
    const full = openAndRead(copy);
    expect(full.stats).toEqual(reopened.stats);
    expect(full.nextNamespace).toBe(reopened.nextNamespace);
  });

  it('a snapshot older than the tail hint: the prefix CRC verifies the rest, records after the snapshot are replayed', () => {
    const dir = newDir();
    const file = path.join(dir, 'db.emdb');
    const model: Model = new Map();
    let older = Buffer.alloc(0);
    withInProcessEngine(file, (engine) => {
      run(engine, model, workload(4, 500));
      engine.checkpoint();
      older = fs.readFileSync(`${file}.index`);
      run(engine, model, workload(5, 500));
      engine.close();
    });
    fs.writeFileSync(`${file}.index`, older);
    const reopened = openAndRead(file);
    expect(reopened).toMatchObject({ mode: 'snapshot', from: Number(older.readBigUInt64LE(SNAPSHOT_TAIL)), prefixVerified: true });
    expect(reopened.records).toBeGreaterThan(500);
    expect(reopened.state).toEqual(normalized(model));
  });

  it('missing, damaged, foreign, newer or other-bytes snapshot → full replay with the right state; open never writes the snapshot', () => {
    const dir = newDir();
    const { file, model } = closedDatabase(dir, 'db.emdb', 6, 600);
    const snap = fs.readFileSync(`${file}.index`);
    const image = fs.readFileSync(file);
    const other = closedDatabase(dir, 'other.emdb', 6, 600);
    // A continuation of the same log (same file id) that went further: its snapshot's tail is past this log's tail hint.
    const longer = path.join(dir, 'longer.emdb');
    fs.copyFileSync(file, longer);
    withInProcessEngine(longer, (engine) => {
      run(engine, new Map(), workload(7, 50));
      engine.close();
    });
    const flip = (at: number) => {
      const b = Buffer.from(snap);
      b[at]! ^= 0x10;
      return b;
    };
    const cases: { label: string; snapshot: Buffer | undefined }[] = [
      { label: 'missing', snapshot: undefined },
      { label: 'empty', snapshot: Buffer.alloc(0) },
      { label: 'truncated to half', snapshot: snap.subarray(0, snap.length >> 1) },
      { label: 'one byte short', snapshot: snap.subarray(0, snap.length - 1) },
      { label: 'magic', snapshot: flip(1) },
      { label: 'file id', snapshot: flip(SNAPSHOT_FILE_ID + 3) },
      { label: 'tail', snapshot: flip(SNAPSHOT_TAIL + 1) },
      { label: 'prefix CRC', snapshot: flip(SNAPSHOT_PREFIX_CRC) },
      { label: 'header CRC', snapshot: flip(SNAPSHOT_HEADER_CRC) },
      { label: 'index table byte', snapshot: flip(128 + 64 + 16 * 7 + 5) },
      { label: 'last catalogue byte', snapshot: flip(snap.length - 1) },
      { label: 'another database (other file id)', snapshot: fs.readFileSync(`${other.file}.index`) },
      { label: 'log with another file id', snapshot: snap },
      { label: 'same file id, tail past the tail hint', snapshot: fs.readFileSync(`${longer}.index`) },
    ];
    // The same log bytes under another file id (another generation of the file): the snapshot names the old one.
    const renamed = Buffer.from(image);
    renamed[PRELUDE_FILE_ID]! ^= 0xff;
    renamed.writeUInt32LE(crc32(renamed.subarray(0, PRELUDE_CRC)), PRELUDE_CRC);
    for (const c of cases) {
      const target = path.join(dir, 'case.emdb');
      fs.writeFileSync(target, c.label === 'log with another file id' ? renamed : image);
      fs.rmSync(`${target}.index`, { force: true });
      if (c.snapshot) fs.writeFileSync(`${target}.index`, c.snapshot);
      const before = c.snapshot ? sha(`${target}.index`) : undefined;
      const got = openAndRead(target);
      expect(got.mode, c.label).toBe('full');
      expect(got.state, c.label).toEqual(normalized(model));
      if (before) expect(sha(`${target}.index`), `${c.label}: open rewrote the snapshot`).toBe(before);
    }
    // Positive control: the intact snapshot next to the same bytes is used.
    fs.writeFileSync(path.join(dir, 'case.emdb'), image);
    fs.writeFileSync(path.join(dir, 'case.emdb.index'), snap);
    expect(openAndRead(path.join(dir, 'case.emdb')).mode).toBe('snapshot');
  });

  it('planted: a record rewritten (valid CRCs, same file id, same tail) makes the snapshot describe other bytes → not trusted, the new value is served', () => {
    const dir = newDir();
    const { file, model } = closedDatabase(dir, 'db.emdb', 8, 400);
    const image = fs.readFileSync(file);
    const keys = model.get('users')!;
    const [key, value] = [...keys][0]!;
    const users = withInProcessEngine(file, (engine) => engine.namespace('users', false));
    // That key's live record (its last PUT in 'users'): change one value byte, reseal its CRC and the slots.
    const rec = walkRecords(image)
      .records.filter(
        (r) => r.kind === RecordKind.PUT && image.readUInt32LE(r.start + 12) === users && image.subarray(r.start + HEADER, r.start + HEADER + r.keyLen).toString() === key,
      )
      .at(-1)!;
    const valueAt = rec.start + HEADER + rec.keyLen;
    expect(image.subarray(valueAt, rec.end).toString()).toBe(value);
    image[valueAt] = 'Z'.charCodeAt(0);
    image.writeUInt32LE(crc32(image.subarray(rec.start + 8, rec.end)), rec.start + 4);
    resealSlots(image);
    fs.writeFileSync(file, image);
    const got = openAndRead(file);
    expect(got.mode).toBe('full');
    keys.set(key, `Z${value.slice(1)}`);
    expect(got.state).toEqual(normalized(model));
  });

  it('a flipped bit before the tail hint with a valid snapshot → CORRUPTION at the damaged record; log and snapshot byte-identical', async () => {
    const dir = newDir();
    const file = path.join(dir, 'db.emdb');
    let older = Buffer.alloc(0);
    withInProcessEngine(file, (engine) => {
      run(engine, new Map(), workload(9, 400));
      engine.checkpoint();
      older = fs.readFileSync(`${file}.index`);
      run(engine, new Map(), workload(10, 400));
      engine.close();
    });
    const image = fs.readFileSync(file);
    const snapTail = Number(older.readBigUInt64LE(SNAPSHOT_TAIL));
    const { records } = walkRecords(image);
    const random = rng(0xf1a9);
    const bits = Array.from({ length: 48 }, () => DATA_START * 8 + Math.floor(random() * (image.length - DATA_START) * 8));
    const failures: string[] = [];
    let beforeSnapshot = 0;
    for (const [label, snapshot] of [['current snapshot', fs.readFileSync(`${file}.index`)], ['older snapshot', older]] as const) {
      for (const bit of bits) {
        const target = path.join(dir, 'flip.emdb');
        const bytes = Buffer.from(image);
        bytes[bit >> 3]! ^= 1 << (bit & 7);
        fs.writeFileSync(target, bytes);
        fs.writeFileSync(`${target}.index`, snapshot);
        const [shaLog, shaSnap] = [sha(target), sha(`${target}.index`)];
        const owner = records.find((r) => r.start * 8 <= bit && bit < r.end * 8)!;
        if (owner.end <= snapTail) beforeSnapshot++;
        const got = failureOf(target);
        if (got?.code !== ErrorCode.CORRUPTION || got.offset !== owner.start) {
          failures.push(`${label}: bit ${bit} (record at ${owner.start}): got ${got?.code} at ${got?.offset}`);
        }
        if (sha(target) !== shaLog || sha(`${target}.index`) !== shaSnap) failures.push(`${label}: bit ${bit}: a file was modified`);
      }
    }
    expect(failures).toEqual([]);
    expect(beforeSnapshot, 'some flips land before the older snapshot tail, some after').toBeGreaterThan(0);
    expect(beforeSnapshot).toBeLessThan(bits.length * 2);
    // One through Emdb.open, which also runs the writer thread's failed-open path.
    const target = path.join(dir, 'public.emdb');
    const bytes = Buffer.from(image);
    const victim = records[Math.floor(records.length / 2)]!;
    bytes[victim.end - 1]! ^= 4;
    fs.writeFileSync(target, bytes);
    fs.copyFileSync(`${file}.index`, `${target}.index`);
    await expect(Emdb.open(target, { readers: 1 })).rejects.toMatchObject({ code: ErrorCode.CORRUPTION, offset: victim.start });
    expect(fs.readFileSync(target).equals(bytes)).toBe(true);
  });

  it('format 1 files: opened with a full replay, kept at version 1 by checkpoints, served from a snapshot after the first close; compaction upgrades them', () => {
    const dir = newDir();
    const { file, model } = closedDatabase(dir, 'db.emdb', 11, 300);
    // Make it a version 1 file: prelude version 1, slot bytes 40..59 reserved (zero).
    const image = fs.readFileSync(file);
    image.writeUInt32LE(1, PRELUDE_VERSION);
    image.writeUInt32LE(crc32(image.subarray(0, PRELUDE_CRC)), PRELUDE_CRC);
    for (const slot of [SLOT_A, SLOT_B]) image.fill(0, slot + 40, slot + SLOT_CRC);
    resealSlots(image);
    fs.writeFileSync(file, image);
    fs.rmSync(`${file}.index`);
    const first = openAndRead(file);
    expect(first).toMatchObject({ mode: 'full', prefixVerified: false });
    expect(first.state).toEqual(normalized(model));
    withInProcessEngine(file, (engine) => {
      run(engine, model, [{ t: 'put', ns: 'users', k: 'v1-extra', v: 'x' }]);
      engine.close();
    });
    const v1 = fs.readFileSync(file);
    expect(v1.readUInt32LE(PRELUDE_VERSION)).toBe(1);
    const active = v1.readBigUInt64LE(SLOT_A + SLOT_SEQUENCE) > v1.readBigUInt64LE(SLOT_B + SLOT_SEQUENCE) ? SLOT_A : SLOT_B;
    expect(v1.subarray(active + 40, active + SLOT_CRC).every((b) => b === 0)).toBe(true);
    const second = openAndRead(file);
    expect(second).toMatchObject({ mode: 'snapshot', records: 0 });
    expect(second.state).toEqual(normalized(model));
    // A flipped bit before the tail of a version 1 file with a snapshot is still corruption.
    const flipped = Buffer.from(v1);
    const rec = walkRecords(v1).records[3]!;
    flipped[rec.end - 1]! ^= 1;
    const target = path.join(dir, 'v1-flip.emdb');
    fs.writeFileSync(target, flipped);
    fs.copyFileSync(`${file}.index`, `${target}.index`);
    expect(failureOf(target)).toMatchObject({ code: ErrorCode.CORRUPTION, offset: rec.start });
    // compact() writes a new file: current version, new file id, prefix CRC in slot A.
    const oldId = v1.subarray(PRELUDE_FILE_ID, PRELUDE_FILE_ID + 16);
    withInProcessEngine(file, (engine) => {
      engine.compact();
      engine.close();
    });
    const compacted = fs.readFileSync(file);
    expect(compacted.readUInt32LE(PRELUDE_VERSION)).toBe(3);
    expect(compacted.subarray(PRELUDE_FILE_ID, PRELUDE_FILE_ID + 16).equals(oldId)).toBe(false);
    expect(compacted.readUInt32LE(SLOT_A + SLOT_FLAGS) & SLOT_FLAG_PREFIX_CRC).toBe(1);
    expect(compacted.readUInt32LE(SLOT_A + SLOT_PREFIX_CRC)).toBe(crc32(compacted.subarray(DATA_START)));
    const third = openAndRead(file);
    expect(third).toMatchObject({ mode: 'snapshot', records: 0, prefixVerified: true });
    expect(third.state).toEqual(normalized(model));
  });

  it('after compaction: killed before any checkpoint → full replay verified by the new prefix CRC; the old snapshot is not used', () => {
    const dir = newDir();
    const { file, model } = closedDatabase(dir, 'db.emdb', 12, 600);
    withInProcessEngine(file, (engine) => {
      engine.compact();
      // killed
    });
    const got = openAndRead(file);
    expect(got).toMatchObject({ mode: 'full', prefixVerified: true });
    expect(got.state).toEqual(normalized(model));
  });

  it('the mirror holds every log byte in the segment of its LSN, so prefix CRCs and backups read across a 1 GiB boundary', () => {
    const span = 2 ** 30;
    const mirror = new MirrorWriter(MirrorWriter.create(1 << 20));
    const record = Uint8Array.from({ length: 300 }, (_, i) => (i * 7 + 1) & 0xff);
    expect(mirror.reserve(span - 100, record.length), 'a new segment was added').toBe(true);
    mirror.write(span - 100, record);
    // The record is whole in the segment it starts in (readers) …
    expect(Buffer.from(mirror.slice(span - 100, 300)).equals(Buffer.from(record))).toBe(true);
    // … and its tail is also where a linear reader of the log looks.
    expect(Buffer.from(mirror.logBytes(span, 200)).equals(Buffer.from(record.subarray(100)))).toBe(true);
    expect(logCrc(mirror, span - 100, span + 200, 0)).toBe(crc32(record));
  });
});
