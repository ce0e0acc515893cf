/**
 * Recovery-decoder fuzzing. Three real database images (test/model/images.ts)
 * are mutated byte-wise for a time budget: bit flips, byte overwrites, zeroed
 * runs, truncation, extension with zeros / random bytes / record copies, length
 * fields set to extremes, record kinds changed, chunks copied over other bytes,
 * inserted or deleted, transaction framing forged with a resealed CRC, and fake
 * record headers with a bad CRC, anywhere in the file (header pages included).
 * Each mutant is opened by the writer engine's own open on a worker thread (fast,
 * and watched: a mutant that hangs or kills the thread is named), and a sample
 * of every outcome again through Emdb.open. The contract (test/fixtures/fuzz-core.ts):
 * it opens and serves only values that pass their CRC and were written (0
 * phantoms; damage after the tail hint recovers exactly the units before it),
 * or it throws an EmdbError with a documented code and leaves the file
 * byte-identical (SHA-256). Never another exception, a hang, or a crash.
 *
 * The seed is printed with the count of mutants per outcome; EMDB_SEED=<n>
 * replays, and a violation names its mutant index (makeMutant(seed, index)).
 * A planted defect (recovery that does not cut crash residue) must be caught.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FuzzJob, FuzzMessage } from '../../dist/test/fixtures/fuzz-worker.js';
import { expectationOf, judgeOpened, judgeRefused, makeMutant, outcomeLabel, type ImageSpec, type Layout } from '../../dist/test/helpers/fuzz-core.js';
import { Emdb, EmdbError, FIXTURES, rmrf, scaled, tmpDir, TORTURE_FACTOR } from '../helpers/common.js';
import { DATA_START, HEADER, pool, RECORD_MAGIC } from '../helpers/log-image.js';
import { apiState, buildImages } from '../helpers/model/images.js';

const SEED = process.env.EMDB_SEED ? Number(process.env.EMDB_SEED) : TORTURE_FACTOR > 1 ? Date.now() % 0x7fffffff : 20261128;
const BUDGET_MS = scaled(8_000);
/** No word from the worker for this long while it opens one mutant: a hang. */
const HANG_MS = 15_000;
const LAYOUT: Layout = { dataStart: DATA_START, recordHeader: HEADER, recordMagic: RECORD_MAGIC };
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

interface FuzzResult {
  mutants: number;
  counts: Record<string, number>;
  violations: string[];
  violationCount: number;
  samples: number[];
  elapsedMs: number;
}

/** Runs the fuzz worker with a watchdog; a hang or a crash of the thread becomes a violation naming the mutant. */
function fuzzInWorker(job: FuzzJob): Promise<FuzzResult> {
  return new Promise((resolve) => {
    const worker = new Worker(path.join(FIXTURES, 'fuzz-worker.js'), { workerData: job });
    let current = -1;
    let lastWord = Date.now();
    let settled = false;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      clearInterval(watchdog);
      void worker.terminate();
      const m = current >= 0 ? makeMutant(job.images, job.layout, job.seed, current) : undefined;
      resolve({ mutants: current + 1, counts: {}, violations: [`mutant ${current} (${m?.ops.join('; ')}): ${why}`], violationCount: 1, samples: [], elapsedMs: 0 });
    };
    const watchdog = setInterval(() => {
      if (Date.now() - lastWord > HANG_MS) fail(`no progress for ${HANG_MS} ms: the open hangs`);
    }, 500);
    worker.on('message', (msg: FuzzMessage) => {
      lastWord = Date.now();
      if (msg.t === 'at') current = msg.index;
      else if (!settled) {
        settled = true;
        clearInterval(watchdog);
        resolve(msg);
      }
    });
    worker.on('error', (err) => fail(`the fuzz thread crashed: ${String(err)}`));
    worker.on('exit', (code) => fail(`the fuzz thread exited with code ${code}`));
  });
}

describe('recovery decoder fuzzing on mutated real images', () => {
  let dir: string;
  let images: ImageSpec[];

  beforeAll(async () => {
    // Mutants are decoded, not stress-tested for the disk: a RAM-backed directory keeps each open's fdatasync cheap.
    dir = fs.existsSync('/dev/shm') ? fs.mkdtempSync('/dev/shm/emdb-fuzz-') : tmpDir('emdb-fuzz-');
    images = await buildImages(dir);
  });

  afterAll(() => rmrf(dir));

  it(`mutants either open with only written, intact values or are refused with a documented code, file untouched (seed ${SEED})`, async () => {
    const result = await fuzzInWorker({ images, layout: LAYOUT, seed: SEED, budgetMs: BUDGET_MS, dir, keepPerOutcome: scaled(2) });
    const counts = Object.entries(result.counts).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ');
    console.log(
      `[fuzz-recovery] seed ${SEED} (EMDB_SEED to replay), budget ${BUDGET_MS} ms: ${result.mutants} mutants of ${images.length} images ` +
        `(${images.map((i) => `${i.name} ${i.bytes.length} B, ${i.unitEnds.length} units`).join('; ')}) in ${result.elapsedMs} ms; ` +
        `outcomes: ${counts}; ${result.violationCount} violations`,
    );
    expect(result.violations).toEqual([]);
    // The budget produced a meaningful number of mutants and every kind of outcome.
    expect(result.mutants).toBeGreaterThan(200);
    for (const outcome of ['refused CORRUPTION', 'refused NOT_A_DATABASE', 'opened: exact unit prefix', 'opened: moved/forged bytes, contract held']) {
      expect(result.counts[outcome], outcome).toBeGreaterThan(0);
    }

    // A sample of every outcome again, through the public Emdb.open (writer thread, lock, reader pool).
    const sample = result.samples.slice(0, scaled(10));
    const failures: string[] = [];
    const sampled = new Map<string, number>();
    await pool(sample, 2, async (index) => {
      const m = makeMutant(images, LAYOUT, SEED, index);
      const spec = images[m.image]!;
      const expectation = expectationOf(spec, m, LAYOUT);
      const file = path.join(dir, `sample-${index}.emdb`);
      fs.writeFileSync(file, m.bytes);
      const before = sha(m.bytes);
      let violation: string | undefined;
      let label: string;
      let db: Emdb<Buffer> | undefined;
      try {
        db = await Emdb.open(file, { readers: 1 });
      } catch (err) {
        violation = judgeRefused(expectation, err, err instanceof EmdbError, sha(fs.readFileSync(file)) === before);
        if (fs.existsSync(`${file}.lock`)) violation ??= 'refused open left its lock file behind';
        label = outcomeLabel(expectation, (err as { code?: string }).code ?? 'non-EmdbError');
      }
      if (db) {
        try {
          const after = fs.readFileSync(file);
          const state = await apiState(db);
          violation = judgeOpened(spec, expectation, { state, problems: [], sizeAfterOpen: after.length, unchanged: sha(after) === before });
          label = outcomeLabel(expectation, undefined);
        } finally {
          await db.close();
        }
      }
      sampled.set(label!, (sampled.get(label!) ?? 0) + 1);
      if (violation) failures.push(`Emdb.open of mutant ${index} (${m.ops.join('; ')}): ${violation}`);
      fs.rmSync(file, { force: true });
    });
    console.log(`[fuzz-recovery] Emdb.open sample: ${sample.length} mutants (${[...sampled].map(([k, v]) => `${k} ${v}`).join(', ')}), ${failures.length} violations`);
    expect(failures).toEqual([]);
  });

  it('planted defect: a recovery that does not cut crash residue is caught', async () => {
    const result = await fuzzInWorker({ images, layout: LAYOUT, seed: SEED, budgetMs: 60_000, maxMutants: 300, dir, keepPerOutcome: 0, plant: 'noTruncate' });
    console.log(`[fuzz-recovery] planted defect (no truncation of residue): ${result.violationCount} violations in ${result.mutants} mutants, e.g. ${result.violations[0]}`);
    expect(result.violationCount).toBeGreaterThan(0);
    expect(result.violations[0]).toMatch(/after open, want it cut to/);
  });
});
