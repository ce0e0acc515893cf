/**
 * Crash safety under SIGKILL: a child process (fixtures/writer-child.ts) runs a
 * seeded sequence of inserts, removes and insertMany chunks, flushing and
 * printing `ack <op>` as it goes, and is killed at an arbitrary moment (from
 * "just spawned" to "mid-stream"). The parent then reopens the same file (the
 * stale lock must be broken automatically) and checks that:
 *  - every acknowledged op is reflected;
 *  - the recovered state is exactly the model after some prefix of the op
 *    sequence at least as long as the acknowledged one (writes after the last
 *    ack may be present or not, but never garbage, never out of order, and an
 *    insertMany chunk all or nothing);
 *  - len() counts exactly the keys found (no phantom keys).
 * It then appends its own records and closes; the next iteration's check (and a
 * final reopen) prove those survived too. One database file is used throughout,
 * so every crash lands on top of the previous ones.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allKeys, applyOp, makeOps, rng, type CrashOp } from '../helpers/crash-ops.js';
import { Emdb, FIXTURES, rmrf, scaled, spawnCrashChild, tmpDir } from '../helpers/common.js';

const CHILD = path.join(FIXTURES, 'writer-child.js');
const ITERATIONS = scaled(Number(process.env.EMDB_CRASH_ITERATIONS ?? 21));
const BASE_SEED = Number(process.env.EMDB_CRASH_SEED ?? 0x5eed);
const CHILD_OPS = 4000;
const KEYS = allKeys();

interface ChildRun {
  lines: string[];
  stderr: string;
  lastAck: number;
  signal: NodeJS.Signals | null;
  code: number | null;
}

/**
 * When to kill: `ms` after spawn (startup: module loading, lock, file creation,
 * recovery), `ms` after the child reported its open (somewhere in the op stream,
 * unaligned with flushes), or right after the child printed its n-th ack.
 */
type KillPlan =
  | { kind: 'sinceSpawn'; ms: number }
  | { kind: 'sinceOpen'; ms: number }
  | { kind: 'afterAcks'; acks: number; extraMs: number };

/** Spawns the writer child and SIGKILLs it according to `plan`; resolves once its pipes are drained. */
function runAndKill(file: string, seed: number, flushEvery: number, plan: KillPlan): Promise<ChildRun> {
  const child = spawnCrashChild(CHILD, [file, String(seed), String(CHILD_OPS), String(flushEvery)]);
  let out = '';
  let stderr = '';
  let killed = false;
  const kill = () => {
    if (!killed) {
      killed = true;
      child.kill('SIGKILL');
    }
  };
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.on('data', (d: Buffer) => {
    const before = out;
    out += d.toString();
    if (killed) return;
    if (plan.kind === 'sinceOpen' && !/^open$/m.test(before) && /^open$/m.test(out)) {
      setTimeout(kill, plan.ms);
    } else if (plan.kind === 'afterAcks' && (out.match(/^ack /gm) ?? []).length >= plan.acks) {
      if (plan.extraMs === 0) kill();
      else setTimeout(kill, plan.extraMs);
    }
  });
  if (plan.kind === 'sinceSpawn') {
    if (plan.ms === 0) kill();
    else setTimeout(kill, plan.ms);
  }
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const lines = out.split('\n').filter((l) => l !== '');
      let lastAck = -1;
      for (const l of lines) {
        const m = /^ack (\d+)$/.exec(l);
        if (m) lastAck = Math.max(lastAck, Number(m[1]));
      }
      resolve({ lines, stderr, lastAck, signal, code });
    });
  });
}

async function openOrExplain(file: string): Promise<Emdb<Buffer>> {
  try {
    return await Emdb.open(file, { readers: 1 });
  } catch (err) {
    const lock = fs.existsSync(`${file}.lock`) ? JSON.stringify(fs.readFileSync(`${file}.lock`, 'utf8')) : '(none)';
    const e = err as { code?: string; message?: string };
    throw new Error(`reopen after SIGKILL failed: ${e.code} ${e.message}; lock file content: ${lock}`);
  }
}

function readState(db: Emdb<Buffer>): Map<string, string> {
  const state = new Map<string, string>();
  for (const k of KEYS) {
    const v = db.getSync(k);
    if (v !== undefined) state.set(k, v.toString('latin1'));
  }
  return state;
}

function sameState(a: Map<string, string>, b: Map<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

function describeDiff(want: Map<string, string>, got: Map<string, string>): string {
  const show = (v: string | undefined) => (v === undefined ? 'absent' : JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…(${v.length})` : v));
  const diffs: string[] = [];
  for (const k of KEYS) {
    if (want.get(k) !== got.get(k)) diffs.push(`${k.slice(0, 12)}: want ${show(want.get(k))} got ${show(got.get(k))}`);
  }
  return diffs.slice(0, 8).join('; ');
}

/**
 * The smallest j >= acked such that applying ops[0, j) to `base` gives `actual`,
 * or undefined when no prefix of the sequence explains what was recovered.
 */
function explainingPrefix(base: Map<string, string>, ops: CrashOp[], acked: number, actual: Map<string, string>): number | undefined {
  const model = new Map(base);
  for (let i = 0; i < acked; i++) applyOp(model, ops[i]!);
  for (let j = acked; ; j++) {
    if (sameState(model, actual)) return j;
    if (j >= ops.length) return undefined;
    applyOp(model, ops[j]!);
  }
}

function planFor(iteration: number, r: () => number): KillPlan {
  switch (iteration % 3) {
    case 0: {
      // Startup: before the process runs, while modules load, during lock/create/recovery.
      const early = [0, 350, 5, 500, 60, 650, 200, 1, 450, 120];
      return { kind: 'sinceSpawn', ms: early[Math.floor(iteration / 3) % early.length]! };
    }
    case 1:
      return { kind: 'sinceOpen', ms: Math.floor(r() * 150) };
    default:
      return { kind: 'afterAcks', acks: 1 + Math.floor(r() * 40), extraMs: Math.floor(r() * 3) };
  }
}

describe('SIGKILL during writes', () => {
  let dir: string;
  let file: string;

  beforeAll(() => {
    if (!fs.existsSync(CHILD)) throw new Error(`${CHILD} is missing: run \`npm run build\` first`);
    dir = tmpDir('emdb-kill9-');
    file = path.join(dir, 'crash.emdb');
  });
  afterAll(() => rmrf(dir));

  it(`recovers every acknowledged write after ${ITERATIONS} kills, with no garbage`, async () => {
    const r = rng(BASE_SEED);
    let state = new Map<string, string>();
    const summary: { plan: KillPlan; flushEvery: number; lastAck: number; recovered?: number }[] = [];
    for (let iter = 0; iter < ITERATIONS; iter++) {
      const seed = BASE_SEED * 1000 + iter;
      const flushEvery = [1, 3, 8][Math.floor(iter / 3) % 3]!;
      const plan = planFor(iter, r);
      const ctx = `iteration ${iter} (seed ${seed}, flushEvery ${flushEvery}, plan ${JSON.stringify(plan)})`;
      const run = await runAndKill(file, seed, flushEvery, plan);
      const failure = run.lines.find((l) => l.startsWith('error'));
      expect(failure, `${ctx}: child failed: ${failure} ${run.stderr}`).toBeUndefined();
      if (run.signal !== 'SIGKILL') expect(run.lines, `${ctx}: child exited by itself (${run.code}) ${run.stderr}`).toContain('done');

      const db = await openOrExplain(file);
      try {
        // A creation interrupted by the kill leaves a temp file that open removes.
        expect(fs.existsSync(`${file}.creating`), ctx).toBe(false);
        const ops = makeOps(seed, CHILD_OPS);
        const actual = readState(db);
        const j = explainingPrefix(state, ops, run.lastAck + 1, actual);
        if (j === undefined) {
          const acked = new Map(state);
          for (let i = 0; i <= run.lastAck; i++) applyOp(acked, ops[i]!);
          throw new Error(`${ctx}: recovered state is no prefix of the sequence from op ${run.lastAck + 1} on; vs acked model: ${describeDiff(acked, actual)}`);
        }
        expect(await db.len(), `${ctx}: len() vs keys found`).toBe(actual.size);
        summary.push({ plan, flushEvery, lastAck: run.lastAck, recovered: j - 1 });

        // The writer continues on top of whatever recovery truncated.
        const extra = makeOps(seed + 7_777_777, 6);
        for (const op of extra) {
          if (op.kind === 'put') await db.insert(op.key, op.value);
          else if (op.kind === 'remove') await db.remove(op.key);
          else await db.insertMany(op.entries);
          applyOp(actual, op);
        }
        expect(sameState(readState(db), actual), `${ctx}: parent's own writes`).toBe(true);
        state = actual;
      } finally {
        await db.close();
      }
      expect(fs.existsSync(`${file}.lock`), `${ctx}: lock released by close`).toBe(false);
    }

    // The last parent writes survive a plain close/reopen too.
    const db = await Emdb.open(file, { readers: 1 });
    try {
      const final = readState(db);
      expect(describeDiff(state, final)).toBe('');
      expect(await db.len()).toBe(state.size);
      const some = KEYS.slice(0, 5);
      expect((await db.getMany(some)).map((v) => v?.toString('latin1'))).toEqual(some.map((k) => state.get(k)));
    } finally {
      await db.close();
    }
    if (process.env.EMDB_CRASH_VERBOSE) console.log(summary.map((s) => JSON.stringify(s)).join('\n'));
    // The plans must actually have produced both early kills and mid-stream kills.
    expect(summary.some((s) => s.lastAck === -1)).toBe(true);
    expect(summary.filter((s) => s.lastAck >= 0).length).toBeGreaterThanOrEqual(ITERATIONS / 3);
  });

  /**
   * Kills the child the moment a given file appears in the database directory
   * (inotify via fs.watch), i.e. inside the creation of the lock file or of the
   * database file, where plain time-based kills rarely land.
   */
  async function killOnCreate(dbFile: string, watched: string): Promise<NodeJS.Signals | null> {
    const watcher = fs.watch(path.dirname(dbFile));
    const child = spawn(process.execPath, [CHILD, dbFile, '1', '10', '1'], { stdio: 'ignore' });
    watcher.on('change', (_event, name) => {
      if (name === path.basename(watched)) child.kill('SIGKILL');
    });
    const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, sig) => resolve(sig)));
    watcher.close();
    return signal;
  }

  it('reopens at once after a kill in the middle of creating the lock file or the database file', async () => {
    const outcomes: string[] = [];
    for (let i = 0; i < scaled(6); i++) {
      const dbFile = path.join(dir, `create-${i}.emdb`);
      const watched = i % 2 === 0 ? `${dbFile}.lock` : `${dbFile}.creating`;
      expect(await killOnCreate(dbFile, watched), `killed on ${watched}`).toBe('SIGKILL');
      const lock = fs.existsSync(`${dbFile}.lock`) ? JSON.stringify(fs.readFileSync(`${dbFile}.lock`, 'utf8')) : 'none';
      try {
        const db = await Emdb.open(dbFile, { readers: 1 });
        await db.insert('alive', 'yes');
        await db.close();
        expect(fs.existsSync(`${dbFile}.creating`)).toBe(false);
      } catch (err) {
        const e = err as { code?: string; message?: string };
        outcomes.push(`kill on ${path.basename(watched)} (lock file left: ${lock}): reopen failed with ${e.code}: ${e.message}`);
      }
    }
    expect(outcomes).toEqual([]);
  });
});
