/**
 * emdb-js/level (EmdbLevel) against classic-level and memory-level through the
 * same abstract-level API, in one run: put, batch, get (async and getSync),
 * iterate every key, range reads. Prints a Markdown table on stdout (and JSON
 * with --json). `npm run bench:level` (build first); `--records N` (default 100,000).
 */
import { cpus, totalmem } from 'node:os';
import path from 'node:path';
import { ClassicLevel } from 'classic-level';
import { MemoryLevel } from 'memory-level';
import { EmdbLevel } from '../src/level/index.js';
import { intArg, log, mkTempDir, packageVersion, parseArgs, pipelined, projectVersion, removeDir } from './util.js';
import { mulberry32 } from './workload.js';

/** What every store offers here: abstract-level 3's public API with string keys and values. */
interface LevelLike {
  open(): Promise<void>;
  close(): Promise<void>;
  put(key: string, value: string): Promise<void>;
  get(key: string): Promise<string | undefined>;
  getSync?(key: string): string | undefined;
  batch(ops: { type: 'put'; key: string; value: string }[]): Promise<void>;
  iterator(options?: object): AsyncIterable<[string, string]> & { all(): Promise<[string, string][]> };
  supports: { getSync?: boolean };
}

const STORES: Record<string, (dir: string) => LevelLike> = {
  'emdb-js/level': (dir) => new EmdbLevel(dir) as unknown as LevelLike,
  'classic-level': (dir) => new ClassicLevel(dir) as unknown as LevelLike,
  'memory-level': () => new MemoryLevel() as unknown as LevelLike,
};

const WINDOW = 1000;
const RANGE_READS = 2000;
const RANGE_LEN = 100;

const keyOf = (i: number): string => `key:${i.toString(16).padStart(8, '0')}:${((i * 2654435761) >>> 0).toString(36)}`;
const valueOf = (i: number): string => `value ${i} `.padEnd(100, String.fromCharCode(97 + (i % 26)));

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

async function benchStore(name: string, records: number, seed: number): Promise<Record<string, number>> {
  const dir = mkTempDir('emdb-bench-level-');
  const db = STORES[name]!(path.join(dir, 'db'));
  const out: Record<string, number> = {};
  try {
    await db.open();
    const order = Array.from({ length: records }, (_, i) => i);
    const rand = mulberry32(seed);
    const next = (): number => rand() / 2 ** 32;
    for (let i = records - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    // put: every key once, random order, ≤1000 outstanding.
    out.put = await timed(() => pipelined(records, WINDOW, (i) => db.put(keyOf(order[i]!), valueOf(order[i]!))));
    // batch: the same keys again, 1000 puts per batch.
    out.batch = await timed(async () => {
      for (let s = 0; s < records; s += 1000) {
        const ops = [];
        for (let i = s; i < Math.min(records, s + 1000); i++) ops.push({ type: 'put' as const, key: keyOf(i), value: valueOf(i) });
        await db.batch(ops);
      }
    });
    let bad = 0;
    out.get = await timed(() =>
      pipelined(records, WINDOW, async (i) => {
        const k = order[i]!;
        if ((await db.get(keyOf(k))) !== valueOf(k)) bad++;
      }),
    );
    if (db.supports.getSync && db.getSync) {
      const getSync = db.getSync.bind(db);
      out.getSync = await timed(async () => {
        for (let i = 0; i < records; i++) if (getSync(keyOf(order[i]!)) !== valueOf(order[i]!)) bad++;
      });
    }
    let seen = 0;
    out.iterate = await timed(async () => {
      for await (const [k] of db.iterator()) if (k.length > 0) seen++;
    });
    if (seen !== records) throw new Error(`${name}: iterated ${seen} of ${records} keys`);
    out.iterateAll = await timed(async () => {
      if ((await db.iterator().all()).length !== records) throw new Error(`${name}: all() length`);
    });
    out.range = await timed(async () => {
      for (let r = 0; r < RANGE_READS; r++) {
        const got = await db.iterator({ gte: keyOf(Math.floor(next() * records)), limit: RANGE_LEN }).all();
        if (got.length === 0) bad++;
      }
    });
    if (bad > 0) throw new Error(`${name}: ${bad} wrong reads`);
  } finally {
    await db.close();
    removeDir(dir);
  }
  return out;
}

const PHASES: [string, string, (n: number) => number][] = [
  ['put', 'put (N, ≤1,000 outstanding)', (n) => n],
  ['batch', 'batch (N / 1,000 × 1,000 puts)', (n) => n],
  ['get', 'get (N random, ≤1,000 outstanding)', (n) => n],
  ['getSync', 'getSync (N random)', (n) => n],
  ['iterate', 'iterate all keys (`for await` over `iterator()`)', (n) => n],
  ['iterateAll', 'iterate all keys (`iterator().all()`)', (n) => n],
  ['range', `range reads (${RANGE_READS} × \`iterator({ gte, limit: ${RANGE_LEN} }).all()\`)`, () => RANGE_READS],
];

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const records = intArg(args, 'records', 100_000);
  const seed = intArg(args, 'seed', 1);
  const names = (args.get('stores') ?? Object.keys(STORES).join(',')).split(',');
  const results: Record<string, Record<string, number>> = {};
  for (const name of names) {
    log(`level bench: ${name}, ${records} records`);
    results[name] = await benchStore(name, records, seed);
  }
  const fmt = (ms: number | undefined, ops: number): string => (ms === undefined ? 'N/A' : `${Math.round(ms)} ms (${Math.round((ops / ms) * 1000).toLocaleString('en-US')}/s)`);
  const lines = [
    `records: ${records.toLocaleString('en-US')}; emdb-js ${projectVersion()}, classic-level ${packageVersion('classic-level')}, memory-level ${packageVersion('memory-level')}, abstract-level ${packageVersion('abstract-level')}; node ${process.version}; ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB; ${new Date().toISOString()}`,
    '',
    `| phase | ${names.join(' | ')} |`,
    `|---|${names.map(() => '---').join('|')}|`,
    ...PHASES.map(([key, label, ops]) => `| ${label} | ${names.map((n) => fmt(results[n]![key], ops(records))).join(' | ')} |`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (args.has('json')) process.stdout.write(`${JSON.stringify({ records, results })}\n`);
}

await main();
