/**
 * The pause one forced full collection costs a user thread (collectAfterCompaction,
 * src/shm/collect-garbage.ts): the opening thread and each attached thread run
 * one after a compaction and one at close. Measured on this thread with an
 * application heap of live JavaScript objects of each size asked for (records
 * like a service keeps: an object with strings, a number, a date and a small
 * array each, in arrays and a Map), after a few seconds of allocation churn
 * like a service's, so young and old generations both hold garbage.
 *
 *   node dist/bench/gc-pause.js [--heaps 0,50,500] [--runs 7]
 *
 * Heap sizes in MB of live objects (heapUsed after a collection). Prints the
 * median and the largest pause per size: wall time, and (Linux) the time this
 * thread was on a CPU meanwhile (/proc schedstat), which a loaded machine
 * inflates much less than the wall time. The largest heap needs
 * --max-old-space-size above it on small machines (the default limit is
 * enough for 500 MB on a 64-bit Node with 2 GB or more of RAM).
 */
import fs from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { collectNow } from '../src/shm/collect-garbage.js';

interface Row {
  id: number;
  name: string;
  email: string;
  score: number;
  createdAt: Date;
  tags: string[];
}

const MB = 1024 * 1024;

function arg(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1]! : fallback;
}

function makeRow(i: number): Row {
  return { id: i, name: `user-${i}-${(i * 2654435761) % 1e9}`, email: `u${i}@example.com`, score: Math.random(), createdAt: new Date(1.7e12 + i), tags: [`t${i % 17}`, `g${i % 5}`] };
}

/** Live rows until heapUsed (after a collection) reaches `targetMb`; kept reachable by the returned object. */
function buildHeap(targetMb: number): { rows: Row[][]; byName: Map<string, Row> } {
  const rows: Row[][] = [];
  const byName = new Map<string, Row>();
  let i = 0;
  for (;;) {
    collectNow();
    if (process.memoryUsage().heapUsed >= targetMb * MB) break;
    const block: Row[] = [];
    for (let k = 0; k < 20_000; k++, i++) {
      const row = makeRow(i);
      block.push(row);
      if (i % 4 === 0) byName.set(row.name, row);
    }
    rows.push(block);
  }
  return { rows, byName };
}

/** A service's steady allocation: short-lived request objects, some kept a while (a cache turning over). */
function churn(ms: number, heap: { rows: Row[][] }): void {
  const end = performance.now() + ms;
  const recent: Row[] = [];
  let i = 0;
  while (performance.now() < end) {
    const req = { path: `/users/${i}`, headers: { a: 'x'.repeat(20), b: i }, body: JSON.stringify(makeRow(i)) };
    recent.push(JSON.parse(req.body) as Row);
    if (recent.length > 50_000) recent.splice(0, 25_000);
    // Old rows replaced now and then: old-generation garbage, as a cache's evictions make.
    const block = heap.rows[i % Math.max(1, heap.rows.length)];
    if (block && i % 7 === 0) block[i % block.length] = makeRow(i);
    i++;
  }
}

/** Nanoseconds this thread has run on a CPU (Linux; NaN elsewhere). The main thread's task id is the pid. */
function threadCpuNs(): number {
  try {
    return Number(fs.readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return NaN;
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const heaps = arg('heaps', '0,50,500')
  .split(',')
  .map((s) => Number(s));
const runs = Number(arg('runs', '7'));
console.log(`Node ${process.version}, ${os.availableParallelism()} CPUs, load average ${os.loadavg()[0]!.toFixed(1)}; ${runs} runs per heap size; pause = one collectNow() (a full, non-incremental collection)`);
console.log('live heap MB | heapUsed MB | wall median ms | wall max ms | on-CPU median ms | on-CPU max ms');
for (const target of heaps) {
  const heap = buildHeap(target);
  const pauses: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < runs; r++) {
    churn(300, heap);
    const c0 = threadCpuNs();
    const t0 = performance.now();
    collectNow();
    pauses.push(performance.now() - t0);
    cpu.push((threadCpuNs() - c0) / 1e6);
  }
  const used = Math.round(process.memoryUsage().heapUsed / MB);
  const cols = [median(pauses), Math.max(...pauses), median(cpu), Math.max(...cpu)].map((x) => x.toFixed(1).padStart(14));
  console.log(`${String(target).padStart(12)} | ${String(used).padStart(11)} | ${cols.join(' | ')}`);
  heap.rows.length = 0;
  heap.byName.clear();
}
