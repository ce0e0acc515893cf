/**
 * Concurrency under load, judged as per-key linearizability of the recorded
 * history. For a bounded time the main thread writes (inserts and removes of a
 * few hot keys, several in flight at once, also to the same key), while the
 * reader pool (get), the main thread (getSync) and an attached worker thread
 * (getSync and get through Emdb.attach) read them; the database is closed and
 * reopened under that load a few times. Every operation takes a ticket from one
 * shared atomic counter before it is invoked and after it responds. The history
 * is then checked with linearizability-check.ts; mutated copies of it (a read
 * moved to an overwritten value, a read from the future, a read absent after a
 * completed write) must be flagged, so the check is known to bite.
 * Seqlock retries are collected from the main thread, the attached thread and
 * every reader-pool thread.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { readPoolOf } from '../../dist/src/core/read-pool.js';
import { seqlockStats } from '../../dist/src/shm/index-table.js';
import { linKey, linValue, linWriteOf, OP_FIELDS } from '../helpers/lin-values.js';
import { Emdb, FIXTURES, scaled, tempDirs } from '../helpers/common.js';
import { rng } from '../helpers/log-image.js';
import { ABSENT, checkRegisters, type Read, type Write } from '../helpers/linearizability-check.js';

const RUN_MS = scaled(5000);
const REOPENS = 4;
const KEYS = 12;
const READ_SEQLOCK = pathToFileURL(path.join(FIXTURES, 'reader-seqlock.js')).href;

/** Seqlock retries per reader-pool thread (tasks block briefly, so concurrent ones spread over the threads). */
async function poolRetries(db: Emdb<Buffer>, threads: number): Promise<Map<number, number>> {
  const pool = await readPoolOf(db.handle().control)!.started();
  const seen = new Map<number, number>();
  const answers: { threadId: number; retries: number }[] = await Promise.all(Array.from({ length: threads * 2 }, () => pool.run({}, { filename: READ_SEQLOCK })));
  for (const a of answers) seen.set(a.threadId, Math.max(seen.get(a.threadId) ?? 0, a.retries));
  return seen;
}

interface History {
  writes: Write[];
  reads: Read[];
  malformed: number;
  retries: { main: number; attached: number; pool: number; poolThreads: number };
  reopens: number;
}

/** An encrypted run: with a cache (the tiny-cache tier), misses open sealed units on every reading thread. */
const ENCRYPTION = { key: Buffer.alloc(32, 0x5e) };

async function runLoad(file: string, encrypted: boolean): Promise<History> {
  const clockBuffer = new SharedArrayBuffer(4);
  const clock = new Int32Array(clockBuffer);
  const tick = () => Atomics.add(clock, 0, 1);
  const writes: Write[] = [];
  const reads: Read[] = [];
  let malformed = 0;
  const r = rng(0x11ea7);
  const worker = new Worker(path.join(FIXTURES, 'lin-reader.js'), { workerData: { clock: clockBuffer, keys: KEYS } });
  const fromWorker = (t: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const on = (m: Record<string, unknown>) => {
        if (m.t === 'error') reject(new Error(String(m.message)));
        else if (m.t === t) {
          worker.off('message', on);
          resolve(m);
        }
      };
      worker.on('message', on);
    });
  await fromWorker('ready');
  const mainRetriesBefore = seqlockStats.retries;
  let poolRetriesTotal = 0;
  let poolThreads = 0;
  let nextWrite = 1;
  const readFrom = (key: number, value: Uint8Array | undefined, invoke: number, source: string) => {
    const write = value === undefined ? ABSENT : linWriteOf(key, value);
    if (write < ABSENT) malformed++;
    reads.push({ key, value: write, invoke, response: tick(), source });
  };

  const deadline = Date.now() + RUN_MS;
  let reopens = 0;
  for (let phase = 0; phase <= REOPENS; phase++) {
    const db = await Emdb.open(file, { readers: 2, ...(encrypted ? { encryption: ENCRYPTION } : {}) });
    worker.postMessage({ t: 'attach', handle: db.handle() });
    const phaseEnd = Math.min(deadline, Date.now() + RUN_MS / (REOPENS + 1));
    let closing = false;
    const round = (): Promise<unknown> => {
      const pending: Promise<unknown>[] = [];
      for (let i = 0; i < 8; i++) {
        const key = Math.floor(r() * KEYS);
        const id = nextWrite++;
        const remove = r() < 0.15;
        const w: Write = { key, value: remove ? ABSENT : id, id, invoke: tick(), response: Infinity };
        writes.push(w);
        const p = remove ? db.remove(linKey(key)) : db.insert(linKey(key), linValue(key, id));
        // A write that fails (closed under it) keeps response = Infinity: it may or may not have happened.
        pending.push(p.then(() => void (w.response = tick()), () => undefined));
      }
      for (let i = 0; i < 32; i++) {
        const key = Math.floor(r() * KEYS);
        const invoke = tick();
        pending.push(db.get(linKey(key)).then((v) => readFrom(key, v, invoke, 'pool get'), () => undefined));
      }
      if (!closing) {
        for (let i = 0; i < 32; i++) {
          const key = Math.floor(r() * KEYS);
          const invoke = tick();
          readFrom(key, db.getSync(linKey(key)), invoke, 'main getSync');
        }
      }
      return Promise.all(pending);
    };
    // Several rounds in flight: writes to a key overlap other writes and reads of it.
    const inFlight: Promise<unknown>[] = [];
    while (Date.now() < phaseEnd) {
      inFlight.push(round());
      if (inFlight.length >= 4) await inFlight.shift();
    }
    await Promise.all(inFlight);
    for (const [, retries] of await poolRetries(db, 2)) {
      poolRetriesTotal += retries;
      poolThreads++;
    }
    // Close under load: a round of writes and reads is still in flight.
    const last = round();
    closing = true;
    await db.close();
    await last;
    if (phase < REOPENS) reopens++;
  }
  worker.postMessage({ t: 'stop' });
  const report = await fromWorker('history');
  await worker.terminate();
  const ops = report.ops as Float64Array;
  for (let i = 0; i < ops.length; i += OP_FIELDS) {
    reads.push({ key: ops[i]!, value: ops[i + 1]!, invoke: ops[i + 2]!, response: ops[i + 3]!, source: 'attached' });
  }
  malformed += report.malformed as number;
  return {
    writes,
    reads,
    malformed,
    retries: { main: seqlockStats.retries - mainRetriesBefore, attached: report.seqlockRetries as number, pool: poolRetriesTotal, poolThreads },
    reopens,
  };
}

describe('linearizability under load, with reopens', () => {
  const newDir = tempDirs('emdb-lin-');

  it.each([
    ['plaintext', false],
    ['encrypted', true],
  ])('%s: every read of every thread is linearizable per key; mutated histories are flagged', async (kind, encrypted) => {
    const h = await runLoad(path.join(newDir(), 'lin.emdb'), encrypted);
    const bySource = new Map<string, number>();
    for (const r of h.reads) bySource.set(r.source, (bySource.get(r.source) ?? 0) + 1);
    const violations = checkRegisters(h.writes, h.reads);

    // Negative controls: the same checker on histories with planted anomalies.
    const random = rng(0x5ca1e);
    const mutants = plantAnomalies(h, random);
    const caught = mutants.map((m) => checkRegisters(h.writes, m.reads).length > 0);

    console.log(
      `[linearizability] ${kind}: ${h.writes.length} writes, ${h.reads.length} reads (${[...bySource].map(([s, n]) => `${n} ${s}`).join(', ')}), ${h.reopens} close/reopen cycles under load: ${violations.length} violations, ${h.malformed} malformed values; ` +
        `negative controls caught ${caught.filter(Boolean).length}/${mutants.length} (${mutants.map((m) => m.kind).join(', ')}); ` +
        `seqlock retries: main thread ${h.retries.main}, attached thread ${h.retries.attached}, reader pool ${h.retries.pool} (over ${h.retries.poolThreads} thread instances)`,
    );
    expect(violations.slice(0, 10)).toEqual([]);
    expect(h.malformed).toBe(0);
    expect(h.reopens).toBe(REOPENS);
    expect(h.writes.length).toBeGreaterThan(500);
    for (const source of ['main getSync', 'pool get', 'attached']) expect(bySource.get(source) ?? 0, source).toBeGreaterThan(1000);
    expect(mutants.length).toBe(4);
    expect(caught.every(Boolean), 'every planted anomaly is flagged').toBe(true);
  });
});

/** Copies of the history with one anomaly each, of kinds a broken store could produce. */
function plantAnomalies(h: History, random: () => number): { kind: string; reads: Read[] }[] {
  const perKey = new Map<number, Write[]>();
  for (const w of h.writes) (perKey.get(w.key) ?? perKey.set(w.key, []).get(w.key)!).push(w);
  const mutants: { kind: string; reads: Read[] }[] = [];
  const plant = (kind: string, make: (read: Read, writes: Write[]) => Read | undefined) => {
    for (let tries = 0; tries < 500; tries++) {
      const i = Math.floor(random() * h.reads.length);
      const read = h.reads[i]!;
      const mutated = make(read, perKey.get(read.key) ?? []);
      if (mutated) {
        const reads = [...h.reads];
        reads[i] = mutated;
        mutants.push({ kind, reads });
        return;
      }
    }
  };
  // Stale: an older value of the key that another completed write replaced before the read began.
  plant('stale value', (read, writes) => {
    const old = writes.find((w) => w.value !== ABSENT && w.response < read.invoke);
    const newer = old && writes.some((o) => o.invoke > old.response && o.response < read.invoke);
    return newer ? { ...read, value: old.value } : undefined;
  });
  // Future: a value whose write was invoked only after the read responded.
  plant('value from the future', (read, writes) => {
    const later = writes.find((w) => w.value !== ABSENT && w.invoke > read.response);
    return later ? { ...read, value: later.value } : undefined;
  });
  // Lost: absent, although a value write completed before the read began and no remove can have followed it.
  plant('absent after a completed write', (read, writes) => {
    let lastDone: Write | undefined;
    for (const w of writes) if (w.response < read.invoke && (!lastDone || w.response > lastDone.response)) lastDone = w;
    if (!lastDone || lastDone.value === ABSENT) return undefined;
    const done = lastDone;
    const removeMayFollow = writes.some((w) => w.value === ABSENT && w.invoke < read.response && w.response >= done.invoke);
    return removeMayFollow ? undefined : { ...read, value: ABSENT };
  });
  // Garbage: a value no write produced.
  plant('value never written', (read) => ({ ...read, value: 1e9 }));
  return mutants;
}
