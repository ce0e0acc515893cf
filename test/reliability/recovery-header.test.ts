/**
 * Corruption matrix, header pages:
 *  - the file cut at every byte offset of the header region, 0..DATA_START:
 *    cut inside the 8-byte magic, not recognisably ours (ERR_EMDB_NOT_A_DATABASE);
 *    holding the magic but cut inside the header area, a damaged database
 *    (ERR_EMDB_CORRUPTION at the cut: creation is atomic, so no crash leaves
 *    such a file); at DATA_START exactly, a header whose tail hint promises
 *    records that are gone (ERR_EMDB_CORRUPTION);
 *    either way open makes no write at all;
 *  - a torn header-slot write: the slot a checkpoint writes, torn at every byte
 *    boundary of its page (new bytes then old, and old then new) and in every
 *    mix of old and new 512-byte sectors, for the first, second and third
 *    checkpoint of a database (target slot empty, holding the creation slot,
 *    holding an older checkpoint). Open must fall back to the older slot unless
 *    the new one landed whole, lose nothing acknowledged, write nothing; the
 *    next checkpoint repairs the torn slot.
 * The writer engine's open runs in-process over an in-memory file; samples of
 * both go through Emdb.open on real files (SHA-256 before/after, no lock left).
 * recovery-bitflip.test.ts covers single-bit damage of the header fields.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffDbStates, readEngineState, type DbState } from '../../dist/test/helpers/engine-state.js';
import { Emdb, ErrorCode, rmrf, scaled, tmpDir } from '../helpers/common.js';
import { activeTailHint, DATA_START, SLOT_A, SLOT_B } from '../helpers/log-image.js';
import { apiState } from '../helpers/model/images.js';
import { interpretLog } from '../helpers/model/log-interpreter.js';
import { MemoryFile, openInMemory } from '../helpers/model/memory-file.js';

const PAGE = SLOT_B - SLOT_A;
const SECTOR = 512;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** The database just before one checkpoint (flushed) and just after it. */
interface CheckpointPair {
  label: string;
  before: Buffer;
  after: Buffer;
  /** Page offset of the slot the checkpoint wrote. */
  slot: number;
  state: DbState;
}

async function checkpointPairs(dir: string): Promise<CheckpointPair[]> {
  const file = path.join(dir, 'slots.emdb');
  const db = await Emdb.open(file, { readers: 1 });
  const ns = await db.namespace('alpha');
  const pairs: CheckpointPair[] = [];
  const labels = ['first checkpoint (target slot empty)', 'second checkpoint (target holds the creation slot)', 'third checkpoint (target holds an older checkpoint)'];
  for (const [round, label] of labels.entries()) {
    for (let i = 0; i < 6; i++) await db.insert(`r${round}-k${i}`, `value ${round}/${i} `.repeat(1 + i * 40));
    await ns.insert(`r${round}`, 'in a namespace');
    await db.remove(`r${round}-k0`);
    await db.flush();
    // The log: while open the file may end in preallocated zeros (a checkpoint does not touch them).
    const logEnd = (await db.stats()).fileBytes;
    const before = fs.readFileSync(file).subarray(0, logEnd);
    const state = await apiState(db);
    await db.checkpoint();
    const after = fs.readFileSync(file).subarray(0, logEnd);
    const changed = [...after.keys()].filter((i) => after[i] !== before[i]);
    expect(after.length, label).toBe(before.length);
    const slot = changed[0]! < SLOT_B ? SLOT_A : SLOT_B;
    expect(changed.every((i) => i >= slot && i < slot + PAGE), `${label}: the checkpoint only wrote its slot page`).toBe(true);
    const log = interpretLog(before);
    expect(diffDbStates(log.states[log.states.length - 1]!, state), `${label}: interpreted log = API state`).toBeUndefined();
    pairs.push({ label, before, after, slot, state });
  }
  await db.close();
  expect(pairs.map((p) => p.slot)).toEqual([SLOT_B, SLOT_A, SLOT_B]);
  return pairs;
}

/** Every torn version of the checkpoint's slot page, deduplicated by content (identical bytes, identical open). */
function tornPages(pair: CheckpointPair): { cases: number; pages: Map<string, { page: Buffer; example: string }> } {
  const oldPage = pair.before.subarray(pair.slot, pair.slot + PAGE);
  const newPage = pair.after.subarray(pair.slot, pair.slot + PAGE);
  const pages = new Map<string, { page: Buffer; example: string }>();
  let cases = 0;
  const add = (page: Buffer, example: string) => {
    cases++;
    const key = sha(page);
    if (!pages.has(key)) pages.set(key, { page, example });
  };
  for (let b = 0; b <= PAGE; b++) {
    add(Buffer.concat([newPage.subarray(0, b), oldPage.subarray(b)]), `new bytes [0, ${b}), old after`);
    add(Buffer.concat([oldPage.subarray(0, b), newPage.subarray(b)]), `old bytes [0, ${b}), new after`);
  }
  const sectors = PAGE / SECTOR;
  for (let mask = 0; mask < 1 << sectors; mask++) {
    const page = Buffer.from(oldPage);
    for (let s = 0; s < sectors; s++) if (mask & (1 << s)) newPage.copy(page, s * SECTOR, s * SECTOR, (s + 1) * SECTOR);
    add(page, `new sectors mask ${mask.toString(2).padStart(sectors, '0')}`);
  }
  return { cases, pages };
}

describe('corruption matrix: the header pages', () => {
  let dir: string;
  let pairs: CheckpointPair[];

  beforeAll(async () => {
    dir = tmpDir('emdb-header-');
    pairs = await checkpointPairs(dir);
  });

  afterAll(() => rmrf(dir));

  it('cut at every byte offset of the header region: typed error, no write at all', () => {
    // Every offset of one image in CI; the torture tier sweeps every image whose tail hint
    // promises records (before/after each checkpoint; a header-only file cut at DATA_START is a valid empty database).
    const images = pairs
      .flatMap((p) => [p.after, p.before])
      .filter((image) => activeTailHint(image) > DATA_START)
      .slice(0, scaled(1));
    const io = new MemoryFile();
    const failures: string[] = [];
    const codes = new Map<string, number>();
    for (const image of images) {
      for (let cut = 0; cut <= DATA_START; cut++) {
        const bytes = image.subarray(0, cut);
        io.load(bytes);
        const want = cut < 8 ? ErrorCode.NOT_A_DATABASE : ErrorCode.CORRUPTION;
        try {
          openInMemory(io);
          failures.push(`cut at ${cut}: opened`);
        } catch (err) {
          const code = (err as { code?: string }).code ?? String(err);
          codes.set(code, (codes.get(code) ?? 0) + 1);
          if (code !== want) failures.push(`cut at ${cut}: ${code}, want ${want}`);
        }
        if (io.writes !== 0 || !io.bytes.equals(bytes)) failures.push(`cut at ${cut}: the file was written`);
      }
    }
    console.log(`[recovery-header] ${images.length} × ${DATA_START + 1} header truncations (0..${DATA_START}): ${[...codes].map(([c, n]) => `${c} ${n}`).join(', ')}, ${failures.length} failures`);
    expect(failures.slice(0, 10)).toEqual([]);
  });

  it('header truncations through Emdb.open: typed error, file byte-identical, no lock file left', async () => {
    const image = pairs[pairs.length - 1]!.after;
    for (const cut of [0, 8, 255, SLOT_A + 30, DATA_START - 1, DATA_START]) {
      const file = path.join(dir, `cut-${cut}.emdb`);
      fs.writeFileSync(file, image.subarray(0, cut));
      const before = sha(image.subarray(0, cut));
      const err = await Emdb.open(file, { readers: 1 }).then(
        async (db) => {
          await db.close();
          return undefined;
        },
        (e: unknown) => e as { code?: string },
      );
      expect(err?.code, `cut at ${cut}`).toBe(cut < 8 ? ErrorCode.NOT_A_DATABASE : ErrorCode.CORRUPTION);
      expect(sha(fs.readFileSync(file)), `cut at ${cut}`).toBe(before);
      expect(fs.existsSync(`${file}.lock`)).toBe(false);
    }
  });

  it('a torn slot write falls back to the older slot, loses nothing, writes nothing; the next checkpoint repairs it', () => {
    const io = new MemoryFile();
    const failures: string[] = [];
    const report: string[] = [];
    for (const pair of pairs) {
      const { cases, pages } = tornPages(pair);
      const oldTail = activeTailHint(pair.before);
      const newTail = activeTailHint(pair.after);
      const newPage = pair.after.subarray(pair.slot, pair.slot + PAGE);
      let fellBack = 0;
      for (const { page, example } of pages.values()) {
        const image = Buffer.from(pair.before);
        page.copy(image, pair.slot);
        io.load(image);
        const label = `${pair.label}, ${example}`;
        try {
          const engine = openInMemory(io);
          const wantTail = page.equals(newPage) ? newTail : oldTail;
          if (wantTail === oldTail) fellBack++;
          if (engine.stats().tailHint !== wantTail) failures.push(`${label}: tail hint ${engine.stats().tailHint}, want ${wantTail}`);
          const served = readEngineState(engine);
          const diff = diffDbStates(served.state, pair.state);
          if (diff || served.problems.length > 0) failures.push(`${label}: served state: ${diff ?? served.problems.join('; ')}`);
          if (io.writes !== 0) failures.push(`${label}: open wrote to the file`);
          // The next checkpoint goes to the torn slot's page and makes the file whole again.
          engine.checkpoint();
          const repaired = openInMemory(io);
          if (repaired.stats().tailHint !== pair.before.length) failures.push(`${label}: after a checkpoint the tail hint is ${repaired.stats().tailHint}`);
          if (repaired.stats().records !== engine.stats().records) failures.push(`${label}: records lost across the repairing checkpoint`);
        } catch (err) {
          failures.push(`${label}: open failed: ${(err as { code?: string }).code} ${String(err)}`);
        }
      }
      report.push(`${pair.label}: ${cases} torn cases, ${pages.size} distinct images, ${fellBack} fell back to the older slot`);
    }
    console.log(`[recovery-header] torn slot writes: ${report.join('; ')}; ${failures.length} failures`);
    expect(failures.slice(0, 10)).toEqual([]);
  });

  it('torn slots through Emdb.open: every value served, file byte-identical', async () => {
    for (const pair of pairs) {
      const torn = Buffer.from(pair.before);
      // The first 30 bytes of the new slot landed, the rest is the page's old content.
      pair.after.copy(torn, pair.slot, pair.slot, pair.slot + 30);
      const file = path.join(dir, `torn-${pair.slot}-${pair.before.length}.emdb`);
      fs.writeFileSync(file, torn);
      const db = await Emdb.open(file, { readers: 1 });
      try {
        expect(diffDbStates(await apiState(db), pair.state), pair.label).toBeUndefined();
        expect(sha(fs.readFileSync(file)), pair.label).toBe(sha(torn));
      } finally {
        await db.close();
      }
    }
  });

  it('control: without the fallback (both slots torn) the same images are refused, so the cases above test the fallback', () => {
    const io = new MemoryFile();
    for (const pair of pairs) {
      const image = Buffer.from(pair.before);
      const other = pair.slot === SLOT_A ? SLOT_B : SLOT_A;
      pair.after.copy(image, pair.slot, pair.slot, pair.slot + 30);
      image[other]! ^= 0x10; // the older slot's magic: it no longer counts as a slot
      io.load(image);
      let code: string | undefined;
      try {
        openInMemory(io);
      } catch (err) {
        code = (err as { code?: string }).code;
      }
      expect(code, pair.label).toBe(ErrorCode.CORRUPTION);
    }
  });
});
