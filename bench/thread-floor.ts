/**
 * The floor of the fixed architecture for durable writes: how fast can ANY
 * design go whose log belongs to a writer thread, when each write must be
 * durable before its producer continues? A bare worker thread (no engine, no
 * encoding, no index) does a 200-byte pwrite into zero-filled space + fdatasync
 * per request and acknowledges it, over each hop a design could use:
 *
 *   port         MessagePort request, MessagePort ack (what emdb-js uses)
 *   port linger  the same, the worker polling its port for 100 µs after each ack
 *                (receiveMessageOnPort: emdb-js's linger)
 *   atomics      a shared-memory request word + Atomics.notify, the worker
 *                blocked in Atomics.wait, the ack awaited with Atomics.waitAsync
 *                (the shared-memory request ring's hop)
 *   atomics spin the same, the worker spinning on the request word instead of
 *                sleeping (a core burnt): only the producer's own wake-up is left
 *
 * beside the in-thread limit (write + fdatasync, no thread), better-sqlite3
 * (WAL, synchronous=FULL) and emdb-js (onEachFlush, await insert + await flush).
 *
 * Group commit: 8 async producers on this thread, each write durable before
 * its producer's next, against the bare worker that drains every pending
 * request into one pwrite + one fdatasync (port, with linger); the ceiling is
 * 8 writes per back-to-back in-thread fdatasync. Little's law bounds it: with
 * 8 writes in flight and each taking at least (sync + hop), throughput is at
 * most 8 / (sync + hop), so 0.8× the ceiling needs hop ≤ sync / 4.
 *
 * Contenders take turns in rounds; each rate is the median of its rounds.
 * --warmup N: each contender first makes N untimed writes (its JIT warm: a
 * process that has been serving for a while), default 0 (the first writes after open).
 *   node dist/bench/thread-floor.js [--writes 1000] [--rounds 5] [--warmup 0]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MessageChannel, Worker } from 'node:worker_threads';
import { loadEmdb } from './adapters/emdb-js.js';
import { sqliteDurableInserter } from './durable-single.js';
import { intArg, isMain, log, mkTempDir, parseArgs, removeDir } from './util.js';
import { freshEntries, mulberry32 } from './workload.js';

const WRITE_BYTES = 200;
const PRODUCERS = 8;

/** The bare writer thread: CommonJS source run with `eval`, so the bench stays one file. */
const WORKER_SOURCE = `
const { workerData, receiveMessageOnPort } = require('node:worker_threads');
const fs = require('node:fs');
const { file, mode, port, words, lingerUs } = workerData;
const fd = fs.openSync(file, 'r+');
const one = Buffer.alloc(${WRITE_BYTES}, 0xab);
let pos = 0;
function durable(n) {
  const buf = n === 1 ? one : Buffer.alloc(${WRITE_BYTES} * n, 0xab);
  fs.writeSync(fd, buf, 0, buf.length, pos);
  pos += buf.length;
  fs.fdatasyncSync(fd);
}
if (mode === 'port' || mode === 'group') {
  const answer = (first) => {
    const ids = [first];
    if (mode === 'group') for (let m; (m = receiveMessageOnPort(port)); ) ids.push(m.message);
    durable(ids.length);
    port.postMessage(ids);
  };
  port.on('message', (id) => {
    answer(id);
    if (lingerUs <= 0) return;
    let until = performance.now() + lingerUs / 1000;
    while (performance.now() < until) {
      const m = receiveMessageOnPort(port);
      if (m) { answer(m.message); until = performance.now() + lingerUs / 1000; }
    }
  });
} else {
  // words[0]: request sequence (producer stores), words[1]: ack sequence (worker stores),
  // words[2]: 1 while the producer runs (a spinning worker sleeps between its turns, so it
  // burns no core while the other contenders run).
  const w = new Int32Array(words);
  let seen = 0;
  for (;;) {
    if (mode === 'atomics') Atomics.wait(w, 0, seen);
    else if (Atomics.load(w, 2) === 0) Atomics.wait(w, 2, 0);
    const req = Atomics.load(w, 0);
    if (req === -1) break;
    if (req === seen) continue;
    seen = req;
    durable(1);
    Atomics.store(w, 1, req);
    Atomics.notify(w, 1);
  }
  port.postMessage('done');
}
`;

interface Contender {
  name: string;
  /** Makes `n` durable writes, one after another (group: PRODUCERS loops sharing them). */
  run(n: number): Promise<void> | void;
  close(): Promise<void> | void;
}

function zeroFilled(file: string, bytes: number): void {
  const fd = fs.openSync(file, 'w+');
  const zeros = Buffer.alloc(1 << 20);
  for (let at = 0; at < bytes; at += zeros.length) fs.writeSync(fd, zeros, 0, Math.min(zeros.length, bytes - at), at);
  fs.fsyncSync(fd);
  fs.closeSync(fd);
}

function inThread(name: string, file: string, perSync: number): Contender {
  const fd = fs.openSync(file, 'r+');
  const buf = Buffer.alloc(WRITE_BYTES * perSync, 0xab);
  let pos = 0;
  return {
    name,
    run(n) {
      for (let i = 0; i < n; i += perSync) {
        fs.writeSync(fd, buf, 0, buf.length, pos);
        pos += buf.length;
        fs.fdatasyncSync(fd);
      }
    },
    close: () => fs.closeSync(fd),
  };
}

/** A bare writer thread in `mode`; `lingerUs` applies to the port modes. */
function bareWriter(name: string, file: string, mode: 'port' | 'group' | 'atomics' | 'atomics spin', lingerUs = 0): Contender {
  const { port1, port2 } = new MessageChannel();
  const words = new SharedArrayBuffer(12);
  const w = new Int32Array(words);
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, mode: mode === 'atomics spin' ? 'spin' : mode, port: port2, words, lingerUs }, transferList: [port2] });
  worker.unref();
  const waiting = new Map<number, () => void>();
  port1.on('message', (ids: number[] | string) => {
    if (typeof ids === 'string') return;
    for (const id of ids) {
      waiting.get(id)?.();
      waiting.delete(id);
    }
  });
  let nextId = 1;
  const viaPort = (): Promise<void> =>
    new Promise((resolve) => {
      const id = nextId++;
      waiting.set(id, resolve);
      port1.postMessage(id);
    });
  const viaAtomics = async (): Promise<void> => {
    const seq = nextId++;
    Atomics.store(w, 0, seq);
    Atomics.notify(w, 0);
    for (;;) {
      const ack = Atomics.load(w, 1);
      if (ack === seq) return;
      const r = Atomics.waitAsync(w, 1, ack);
      if (r.async) await r.value;
    }
  };
  return {
    name,
    async run(n) {
      if (mode === 'group') {
        let left = n;
        const producer = async (): Promise<void> => {
          while (left > 0) {
            left--;
            await viaPort();
          }
        };
        await Promise.all(Array.from({ length: PRODUCERS }, producer));
        return;
      }
      Atomics.store(w, 2, 1);
      Atomics.notify(w, 2);
      try {
        for (let i = 0; i < n; i++) await (mode === 'port' ? viaPort() : viaAtomics());
      } finally {
        Atomics.store(w, 2, 0);
      }
    },
    async close() {
      if (mode === 'atomics' || mode === 'atomics spin') {
        Atomics.store(w, 0, -1);
        Atomics.store(w, 2, 1);
        Atomics.notify(w, 0);
        Atomics.notify(w, 2);
      }
      await worker.terminate();
      port1.close();
    },
  };
}

function betterSqlite3(dir: string, writes: number): Contender | null {
  const sqlite = sqliteDurableInserter(path.join(dir, 'floor.sqlite'), 'thread floor');
  if (!sqlite) return null;
  const entries = freshEntries(mulberry32(5), writes);
  let at = 0;
  return {
    name: 'better-sqlite3',
    run(n) {
      for (let i = 0; i < n; i++) sqlite.insert(...entries[at++]!);
    },
    close: sqlite.close,
  };
}

async function emdbContenders(dir: string, writes: number): Promise<Contender[]> {
  const Emdb = await loadEmdb();
  const single = await Emdb.open(path.join(dir, 'single.emdb'), { flushPolicy: { kind: 'onEachFlush' }, readers: 1 });
  const group = await Emdb.open(path.join(dir, 'group.emdb'), { flushPolicy: { kind: 'group', maxWaitMs: 1, maxBatch: PRODUCERS }, readers: 1 });
  const entries = freshEntries(mulberry32(4), writes * 2);
  let a = 0;
  let b = writes;
  return [
    {
      name: 'emdb-js onEachFlush',
      async run(n) {
        for (let i = 0; i < n; i++) {
          await single.insert(...entries[a++]!);
          await single.flush();
        }
      },
      close: () => single.close(),
    },
    {
      name: 'emdb-js group, 8 async producers',
      async run(n) {
        let left = n;
        const producer = async (): Promise<void> => {
          while (left > 0) {
            left--;
            await Promise.all([group.insert(...entries[b++]!), group.flush()]);
          }
        };
        await Promise.all(Array.from({ length: PRODUCERS }, producer));
      },
      close: () => group.close(),
    },
  ];
}

const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;

export interface ThreadFloor {
  writes: number;
  rounds: number;
  warmup: number;
  loadAverage: number[];
  /** Writes per second, median of the rounds, by contender. */
  rates: Record<string, number>;
  roundRates: Record<string, number[]>;
}

export async function threadFloor(writes: number, rounds: number, warmup = 0): Promise<ThreadFloor> {
  const dir = mkTempDir('emdb-bench-floor-');
  const per = Math.max(PRODUCERS, Math.floor(writes / rounds));
  const span = (per * rounds + warmup) * 4 * WRITE_BYTES + (1 << 20);
  const file = (name: string): string => {
    const f = path.join(dir, `${name}.bin`);
    zeroFilled(f, span);
    return f;
  };
  const loadAverage = os.loadavg();
  const all: Contender[] = [];
  try {
    all.push(inThread('limit (in-thread write + fdatasync)', file('limit'), 1));
    for (const [name, mode, linger] of [
      ['bare writer thread, port', 'port', 0],
      ['bare writer thread, port + 100 µs linger', 'port', 100],
      ['bare writer thread, atomics (wait / waitAsync)', 'atomics', 0],
      ['bare writer thread, atomics, writer spinning', 'atomics spin', 0],
    ] as const) {
      all.push(bareWriter(name, file(name.replace(/\W+/g, '-')), mode, linger));
    }
    const sqlite = betterSqlite3(dir, per * rounds + warmup);
    if (sqlite) all.push(sqlite);
    all.push(...(await emdbContenders(dir, (per * rounds + warmup) * 4)));
    all.push(inThread('group ceiling (8 writes per in-thread fdatasync)', file('ceiling'), PRODUCERS));
    all.push(bareWriter('bare writer thread, group of 8 async producers, port + linger', file('group'), 'group', 100));
    if (warmup > 0) {
      log(`thread floor: ${warmup} untimed writes per contender ...`);
      for (const c of all) await c.run(warmup);
    }
    const roundRates: Record<string, number[]> = Object.fromEntries(all.map((c) => [c.name, []]));
    for (let r = 0; r < rounds; r++) {
      log(`thread floor: round ${r + 1} of ${rounds} (${per} writes per contender) ...`);
      for (const c of all) {
        const n = c.name.includes('group') ? per * 4 : per;
        const t0 = performance.now();
        await c.run(n);
        roundRates[c.name]!.push((n / (performance.now() - t0)) * 1000);
      }
    }
    const rates = Object.fromEntries(Object.entries(roundRates).map(([k, v]) => [k, Math.round(median(v))]));
    return { writes: per * rounds, rounds, warmup, loadAverage, rates, roundRates: Object.fromEntries(Object.entries(roundRates).map(([k, v]) => [k, v.map(Math.round)])) };
  } finally {
    for (const c of all) await c.close();
    removeDir(dir);
  }
}

function report(r: ThreadFloor): string {
  const limit = r.rates['limit (in-thread write + fdatasync)']!;
  const ceiling = r.rates['group ceiling (8 writes per in-thread fdatasync)']!;
  const sqlite = r.rates['better-sqlite3'];
  const lines = [
    `${r.writes} writes per contender in ${r.rounds} interleaved rounds (group rows: 4× as many) after ${r.warmup} untimed ones, load average ${r.loadAverage.map((x) => x.toFixed(2)).join(' ')}`,
    '',
    '| contender | writes/s | µs per write | vs limit (single) or ceiling (group) | vs better-sqlite3 | rounds |',
    '|---|--:|--:|--:|--:|--|',
  ];
  for (const [name, rate] of Object.entries(r.rates)) {
    const base = name.includes('group') ? ceiling : limit;
    const vsSqlite = sqlite && !name.includes('group') ? `${(rate / sqlite).toFixed(2)}×` : '—';
    lines.push(`| ${name} | ${rate.toLocaleString('en-US')} | ${(1e6 / rate).toFixed(0)} | ${(rate / base).toFixed(2)}× | ${vsSqlite} | ${r.roundRates[name]!.join(', ')} |`);
  }
  return lines.join('\n');
}

if (isMain(import.meta.url)) {
  const args = parseArgs(process.argv.slice(2));
  const result = await threadFloor(intArg(args, 'writes', 1000), intArg(args, 'rounds', 5), intArg(args, 'warmup', 0));
  process.stdout.write(`${report(result)}\n`, () => process.exit(0));
}
