/**
 * Model-based test of the public API (fast-check `fc.commands` + `asyncModelRun`):
 * random sequences of insert, remove, get, getSync, getMany, contains, len,
 * clear, insertMany, bursts of unawaited writes, committing and throwing
 * transactions across namespaces, namespace create/drop, iter/keys, flush,
 * checkpoint, compact, an on-disk image taken while open, and close + reopen run
 * against a real database file and against a Map per namespace. The model keeps
 * a visible and a durable state (redb's scheme): flush/checkpoint/compact/close
 * make visible durable, and close + reopen must show exactly the visible state.
 * A planted mutant (insertMany loses an entry it acknowledged) must be caught.
 *
 * The seed is printed; EMDB_SEED=<n> replays a run (fast-check also prints the
 * seed and the shrunk counterexample path on failure). The torture tier draws a
 * fresh seed each time.
 */
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Emdb } from 'emdb-js';
import { scaled, tempDirs, TORTURE_FACTOR } from '../helpers/common.js';
import { API_COMMAND_NAMES, apiCommands, expectState, OPEN_OPTIONS, type ApiReal } from '../helpers/model/api-commands.js';
import { KvModel } from '../helpers/model/kv-model.js';

const SEED = process.env.EMDB_SEED ? Number(process.env.EMDB_SEED) : TORTURE_FACTOR > 1 ? Date.now() % 0x7fffffff : 20261126;
const RUNS = scaled(8);
const MAX_COMMANDS = 50;
/** Shrinking a failure stops here, so fast-check reports before vitest's own timeout. */
const TIME_LIMIT_MS = 90_000 * TORTURE_FACTOR;

describe('model-based: the public API against a Map per namespace', () => {
  const newDir = tempDirs('emdb-model-api-');

  async function runProperty(runs: number, executed: Map<string, number>, mutant?: ApiReal['mutant']): Promise<number> {
    let passed = 0;
    const property = fc.asyncProperty(fc.commands(apiCommands, { maxCommands: MAX_COMMANDS, size: 'max' }), async (cmds) => {
      const file = path.join(newDir(), 'model.emdb');
      const real: ApiReal = { db: await Emdb.open(file, OPEN_OPTIONS), file, executed, mutant };
      const model = new KvModel();
      try {
        await fc.asyncModelRun(() => ({ model, real }), cmds);
        // Whatever the sequence ended with, a clean close + reopen shows the visible state.
        await real.db.close();
        real.db = await Emdb.open(file, OPEN_OPTIONS);
        await expectState(real.db, model.visible);
        passed++;
      } finally {
        await real.db.close();
        fs.rmSync(path.dirname(file), { recursive: true, force: true });
      }
    });
    await fc.assert(property, {
      seed: SEED,
      numRuns: runs,
      endOnFailure: mutant !== undefined,
      plugins: [fc.timeout(60_000), fc.interruptAfterTimeLimit(TIME_LIMIT_MS, { failOnInterrupt: true })],
    });
    return passed;
  }

  it(`random command sequences agree with the model (seed ${SEED})`, async () => {
    console.log(`[model-api] seed ${SEED} (replay with EMDB_SEED=${SEED}), ${RUNS} runs of up to ${MAX_COMMANDS} commands`);
    const executed = new Map<string, number>();
    const started = Date.now();
    const passed = await runProperty(RUNS, executed);
    const total = [...executed.values()].reduce((a, b) => a + b, 0);
    const byName = [...executed].sort((a, b) => b[1] - a[1]).map(([n, c]) => `${n} ${c}`).join(', ');
    console.log(`[model-api] seed ${SEED}: ${passed} sequences passed, ${total} commands executed (${byName}), 0 disagreements, ${Date.now() - started} ms`);
    expect(passed).toBe(RUNS);
    // Every kind of command ran, so none of them is dead weight in this test.
    expect([...executed.keys()].sort()).toEqual([...API_COMMAND_NAMES].sort());
  });

  it('planted mutant: insertMany acknowledges an entry that never reaches the database → caught', async () => {
    let caught: unknown;
    try {
      await runProperty(RUNS, new Map(), 'insertManyLosesLast');
    } catch (err) {
      caught = err;
    }
    const counterexample = String(caught).split('\n').find((l) => l.startsWith('Counterexample')) ?? '';
    console.log(`[model-api] mutant: ${caught ? 'caught' : 'NOT caught'}: ${String((caught as { cause?: unknown } | undefined)?.cause ?? caught).slice(0, 300)}; ${counterexample.slice(0, 300)}`);
    expect(caught).toBeDefined();
    expect(String((caught as { cause?: unknown }).cause), 'caught by a model comparison').toMatch(/expected|deep/i);
  });
});
