/**
 * Torn appends: the log is cut at EVERY byte offset from the start of the
 * third-to-last write unit (a put, a remove or an insertMany chunk) to the end
 * of the file, and each cut file is opened. The tail hint is checkpointed before
 * those units (the db was only flushed after them, as after a crash), so every cut
 * is crash residue: open must recover exactly the units that are complete before
 * the cut (no phantom record, nothing before the cut lost, an insertMany chunk
 * all or nothing) and truncate the file back to the end of the last one.
 * Record boundaries come from walking the record headers of the file itself.
 *
 * One Emdb.open costs two worker-thread start-ups (~100-200 ms of CPU), too much
 * for ~200 cuts, so the exhaustive sweep runs the writer's own open/recovery code
 * (WriterEngine from dist, through the FileIO seam, on this thread), checking the
 * recovered end, record count and live keys; every cut on or next to a record
 * edge then goes through the public Emdb.open, comparing every value.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Emdb, ErrorCode, rmrf, tmpDir } from '../helpers/common.js';
import { DATA_START, HEADER, Kind, activeTailHint, pool, walkRecords, withInProcessEngine, type Rec } from '../helpers/log-image.js';


type Op = { t: 'put'; k: string; v: string } | { t: 'del'; k: string } | { t: 'many'; e: [string, string][] };

interface Unit {
  start: number;
  end: number;
  kinds: number[];
}

/** Groups TX_BEGIN … TX_COMMIT into one unit; every other record is a unit of its own. */
function groupUnits(records: Rec[]): Unit[] {
  const units: Unit[] = [];
  let open: Unit | undefined;
  for (const r of records) {
    if (open) {
      open.kinds.push(r.kind);
      open.end = r.end;
      if (r.kind === Kind.TX_COMMIT) {
        units.push(open);
        open = undefined;
      }
    } else if (r.kind === Kind.TX_BEGIN) {
      open = { start: r.start, end: r.end, kinds: [r.kind] };
    } else {
      units.push({ start: r.start, end: r.end, kinds: [r.kind] });
    }
  }
  if (open) throw new Error('transaction without commit in the source file');
  return units;
}

function expectedKinds(op: Op): number[] {
  if (op.t === 'put') return [Kind.PUT];
  if (op.t === 'del') return [Kind.TOMBSTONE];
  return [Kind.TX_BEGIN, ...op.e.map(() => Kind.PUT), Kind.TX_COMMIT];
}

function apply(model: Map<string, string>, op: Op): Map<string, string> {
  const next = new Map(model);
  if (op.t === 'put') next.set(op.k, op.v);
  else if (op.t === 'del') next.delete(op.k);
  else for (const [k, v] of op.e) next.set(k, v);
  return next;
}

async function run(db: Emdb<Buffer>, op: Op): Promise<void> {
  if (op.t === 'put') await db.insert(op.k, op.v);
  else if (op.t === 'del') expect(await db.remove(op.k)).toBe(true);
  else await db.insertMany(op.e);
}

/** Checkpointed part: keys of 1..300 bytes, values of 0..20000 bytes, overwrites, removes, one insertMany chunk. */
function prefixOps(): Op[] {
  const keyLens = [1, 2, 7, 16, 31, 32, 33, 64, 100, 255, 300];
  const valueLens = [0, 1, 5, 31, 32, 33, 100, 1000, 4096, 5000, 20000];
  const ops: Op[] = [];
  const keyOf = (i: number) => (i === 0 ? 'e' : `${i}:`.padEnd(keyLens[i % keyLens.length]!, 'k'));
  for (let i = 0; i < 24; i++) ops.push({ t: 'put', k: keyOf(i), v: String.fromCharCode(65 + (i % 26)).repeat(valueLens[(i * 7) % valueLens.length]!) });
  ops.push({ t: 'put', k: keyOf(3), v: 'overwritten' });
  ops.push({ t: 'del', k: keyOf(5) });
  ops.push({ t: 'many', e: [['m1', 'one'], [keyOf(4), 'four-again'], ['m2', 'x'.repeat(3000)], ['m3', ''], ['m1', 'one-again']] });
  ops.push({ t: 'del', k: 'm3' });
  ops.push({ t: 'put', k: 'f', v: 'before the checkpoint' });
  return ops;
}

/** The last three units (after the checkpoint, flushed only): a put, a two-entry insertMany chunk, a remove. */
const WINDOW_OPS: Op[] = [
  { t: 'put', k: 'w', v: 'v1' },
  { t: 'many', e: [['w', 'v2'], ['x', '']] },
  { t: 'del', k: 'e' },
];

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Runs the writer's open (header, recovery walk, residue truncation) on this thread, then closes. */
function recoverInProcess(file: string): { end: number; liveKeys: number; size: number } {
  return withInProcessEngine(file, (engine) => {
    // `end` is where the walk stopped: past the boundary means a phantom record, before it a lost one.
    const result = { end: engine.recovery!.end, liveKeys: engine.stats().records, size: fs.statSync(file).size };
    engine.close();
    return result;
  });
}

describe('recovery from a log truncated at every byte of its last three units', () => {
  let dir: string;
  let image: Buffer;
  let units: Unit[];
  let models: Map<string, string>[];
  let allKeys: string[];
  let windowStart: number;

  beforeAll(async () => {
    dir = tmpDir('emdb-trunc-');
    const file = path.join(dir, 'source.emdb');
    const ops = [...prefixOps(), ...WINDOW_OPS];
    const db = await Emdb.open(file, { readers: 1 });
    for (const op of ops.slice(0, -WINDOW_OPS.length)) await run(db, op);
    await db.checkpoint();
    for (const op of WINDOW_OPS) await run(db, op);
    await db.flush();
    // Copy while open: what a crash right after this flush leaves on disk (the log; the preallocated zeros past it are cut).
    image = fs.readFileSync(file).subarray(0, (await db.stats()).fileBytes);
    await db.close();

    const walked = walkRecords(image);
    expect(walked.end, 'the walk covers the whole file').toBe(image.length);
    units = groupUnits(walked.records);
    expect(units.map((u) => u.kinds), 'one unit per operation, in order').toEqual(ops.map(expectedKinds));
    models = [new Map()];
    for (const op of ops) models.push(apply(models[models.length - 1]!, op));
    allKeys = [...new Set(ops.flatMap((op) => (op.t === 'many' ? op.e.map(([k]) => k) : [op.k])))];
    windowStart = units[units.length - WINDOW_OPS.length]!.start;
    expect(activeTailHint(image), 'tail hint sits at the start of the last three units').toBe(windowStart);
  });

  afterAll(() => rmrf(dir));

  /** What a cut at `cut` must recover: complete units, the boundary after them, the records applied. */
  function expectedAt(cut: number): { complete: number; boundary: number; model: Map<string, string> } {
    const complete = units.filter((u) => u.end <= cut).length;
    const boundary = complete === 0 ? DATA_START : units[complete - 1]!.end;
    return { complete, boundary, model: models[complete]! };
  }

  it('every cut: the recovery walk keeps exactly the complete units and truncates to them', () => {
    const cuts = Array.from({ length: image.length - windowStart + 1 }, (_, i) => windowStart + i);
    expect(cuts.length).toBeGreaterThan(150);
    const file = path.join(dir, 'sweep.emdb');
    const failures: string[] = [];
    for (const cut of cuts) {
      const want = expectedAt(cut);
      fs.writeFileSync(file, image.subarray(0, cut));
      try {
        const got = recoverInProcess(file);
        const expected = { end: want.boundary, liveKeys: want.model.size, size: want.boundary };
        if (JSON.stringify(got) !== JSON.stringify(expected)) failures.push(`cut at ${cut}: got ${JSON.stringify(got)}, want ${JSON.stringify(expected)}`);
      } catch (err) {
        failures.push(`cut at ${cut}: open failed: ${(err as { code?: string }).code} ${(err as Error).message}`);
      }
    }
    fs.rmSync(file, { force: true });
    expect(failures).toEqual([]);
  });

  it('cuts on and next to every record edge, through Emdb.open: exactly the complete units, every value', async () => {
    // Each window record: at its start, one byte in, header only, one byte short; and the whole file.
    const edges = walkRecords(image).records.filter((r) => r.start >= windowStart);
    const cuts = [...new Set([...edges.flatMap((r) => [r.start, r.start + 1, r.start + HEADER, r.end - 1]), image.length])];
    expect(edges.length).toBe(6);
    const failures: string[] = [];
    await pool(cuts, 3, async (cut) => {
      const { complete, boundary, model } = expectedAt(cut);
      const file = path.join(dir, `cut-${cut}.emdb`);
      fs.writeFileSync(file, image.subarray(0, cut));
      const problems: string[] = [];
      let db: Emdb<Buffer> | undefined;
      try {
        db = await Emdb.open(file, { readers: 1 });
        const size = fs.statSync(file).size;
        if (size !== boundary) problems.push(`file is ${size} bytes after open, want ${boundary}`);
        const len = await db.len();
        if (len !== model.size) problems.push(`len ${len}, want ${model.size}`);
        for (const k of allKeys) {
          const got = db.getSync(k)?.toString('latin1');
          if (got !== model.get(k)) problems.push(`${k.slice(0, 8)}=${JSON.stringify(got?.slice(0, 20))}, want ${JSON.stringify(model.get(k)?.slice(0, 20))}`);
        }
      } catch (err) {
        problems.push(`open failed: ${(err as { code?: string }).code} ${(err as Error).message}`);
      } finally {
        await db?.close();
        fs.rmSync(file, { force: true });
      }
      if (problems.length) failures.push(`cut at ${cut} (${complete} units complete): ${problems.slice(0, 4).join('; ')}`);
    });
    expect(failures).toEqual([]);
  });

  it('after recovering a cut inside the insertMany chunk, new appends persist', async () => {
    const tx = units[units.length - 2]!;
    const cut = tx.end - 1;
    const file = path.join(dir, 'cut-then-append.emdb');
    fs.writeFileSync(file, image.subarray(0, cut));
    const db = await Emdb.open(file, { readers: 1 });
    expect(db.getSync('w')?.toString()).toBe('v1');
    expect(db.getSync('x')).toBeUndefined();
    await db.insert('x', 'after recovery');
    await db.close();
    const again = await Emdb.open(file, { readers: 1 });
    try {
      expect(again.getSync('w')?.toString()).toBe('v1');
      expect(again.getSync('x')?.toString()).toBe('after recovery');
      expect(again.getSync('e')).toBeDefined();
      expect(await again.len()).toBe(models[units.length - 2]!.size + 1);
    } finally {
      await again.close();
    }
    const walked = walkRecords(fs.readFileSync(file));
    expect(walked.end).toBe(fs.statSync(file).size);
    // Format 3: the first append after recovery is preceded by a DURABLE_MARK (kind 8) written at the cut.
    expect(walked.records[walked.records.length - 2]).toMatchObject({ start: tx.start, kind: 8 });
  });

  it('a cut before the checkpointed tail hint is corruption and leaves the file untouched', async () => {
    for (const cut of [windowStart - 1, units[units.length - 5]!.start + 3]) {
      const file = path.join(dir, `short-${cut}.emdb`);
      const bytes = image.subarray(0, cut);
      fs.writeFileSync(file, bytes);
      const err = await Emdb.open(file, { readers: 1 }).then(
        async (db) => {
          await db.close();
          return undefined;
        },
        (e: unknown) => e as { code?: string; offset?: number },
      );
      expect(err?.code, `cut at ${cut}`).toBe(ErrorCode.CORRUPTION);
      expect(err?.offset).toBe(cut);
      expect(sha(fs.readFileSync(file))).toBe(sha(bytes));
      expect(fs.existsSync(`${file}.lock`)).toBe(false);
    }
  });

  it('recovered records are accounted like the live writes were: stats before close = stats after reopen', async () => {
    const file = path.join(dir, 'stats.emdb');
    const db = await Emdb.open(file, { readers: 1 });
    await db.insert('plain', 'value');
    await db.insertMany([['a', '1'], ['b', '2']]);
    await db.insertMany([['a', 'again']]);
    const before = await db.stats();
    await db.close();
    const again = await Emdb.open(file, { readers: 1 });
    try {
      const after = await again.stats();
      expect({ records: after.records, liveBytes: after.liveBytes, deadBytes: after.deadBytes, fileBytes: after.fileBytes }).toEqual({
        records: before.records,
        liveBytes: before.liveBytes,
        deadBytes: before.deadBytes,
        fileBytes: before.fileBytes,
      });
    } finally {
      await again.close();
    }
  });
});
