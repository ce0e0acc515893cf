/**
 * The comparative benchmark. Measures the machine limits, then runs every
 * selected store in its own child process (run-store.js) so RSS is per store,
 * then the emdb-js group-commit bench (group-commit.js) and the durable-write
 * latency probe (durable-latency.js), and writes
 *   bench/results/<date>-<n>.json, docs/BENCH.md (marked block), docs/bench.svg.
 *
 *   node dist/bench/run.js [--records 1000000] [--quick] [--stores emdb-js,lmdb,...]
 *                          [--seed N] [--threads 2,4] [--skip-limits] [--skip-group-commit]
 *                          [--timeout-min 60] [--no-write]
 */
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseStores } from './adapters/registry.js';
import type { StoreName } from './adapters/types.js';
import { measureLimits } from './limits.js';
import { renderBlock, renderTable, updateBenchMarkdown } from './report-markdown.js';
import { writeSvg } from './report-svg.js';
import type { DurableLatency } from './durable-latency.js';
import type { BenchRun, GroupCommitResult, MachineLimits, StoreRun } from './results.js';
import { RESULT_PREFIX } from './run-store.js';
import { errorMessage, intArg, log, parseArgs } from './util.js';
import { DEFAULT_SEED, scaleFor } from './workload.js';

const HERE = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
const ROOT = path.resolve(HERE, '..', '..');
const RESULTS_DIR = path.join(ROOT, 'bench', 'results');
const BENCH_MD = path.join(ROOT, 'docs', 'BENCH.md');
const BENCH_SVG = path.join(ROOT, 'docs', 'bench.svg');
const STDERR_TAIL = 4000;

interface ChildOutput {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderrTail: string;
  timedOut: boolean;
}

/** Runs a compiled bench script in a child node process; its stderr is echoed live. */
function runChild(script: string, args: string[], timeoutMs: number): Promise<ChildOutput> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(HERE, script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderrTail = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      process.stderr.write(d);
      stderrTail = (stderrTail + d).slice(-STDERR_TAIL);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderrTail, timedOut });
    });
  });
}

function lastLine(stdout: string, prefix: string): string | undefined {
  return stdout
    .split('\n')
    .reverse()
    .find((l) => l.startsWith(prefix))
    ?.slice(prefix.length);
}

function childFailure(out: ChildOutput): string {
  const how = out.timedOut ? 'timed out' : out.signal ? `killed by ${out.signal}` : `exited with code ${out.code}`;
  const tail = out.stderrTail.trim().split('\n').slice(-3).join(' / ');
  return `child process ${how}${tail ? `: ${tail}` : ''}`;
}

async function runStoreInChild(store: StoreName, childArgs: string[], timeoutMs: number): Promise<StoreRun> {
  log(`\n== ${store} ==`);
  const out = await runChild('run-store.js', ['--store', store, ...childArgs], timeoutMs);
  const json = lastLine(out.stdout, RESULT_PREFIX);
  if (json === undefined) return { store, status: 'failed', reason: childFailure(out), phases: {} };
  try {
    return JSON.parse(json) as StoreRun;
  } catch (err) {
    return { store, status: 'failed', reason: `unreadable result: ${errorMessage(err)}`, phases: {} };
  }
}

async function groupCommitInChild(quick: boolean, timeoutMs: number): Promise<GroupCommitResult> {
  log('\n== group commit (emdb-js) ==');
  const out = await runChild('group-commit.js', quick ? ['--quick'] : [], timeoutMs);
  const json = out.stdout.split('\n').reverse().find((l) => l.startsWith('{'));
  if (json === undefined) return { kind: 'na', reason: childFailure(out) };
  try {
    return JSON.parse(json) as GroupCommitResult;
  } catch (err) {
    return { kind: 'na', reason: `unreadable result: ${errorMessage(err)}` };
  }
}

async function durableLatencyInChild(quick: boolean, timeoutMs: number): Promise<DurableLatency | { error: string }> {
  log('\n== durable write latency (emdb-js) ==');
  const out = await runChild('durable-latency.js', ['--iterations', quick ? '100' : '300'], timeoutMs);
  const json = out.stdout.split('\n').reverse().find((l) => l.startsWith('{'));
  if (json === undefined) return { error: childFailure(out) };
  try {
    return JSON.parse(json) as DurableLatency;
  } catch (err) {
    return { error: `unreadable result: ${errorMessage(err)}` };
  }
}

function gitDescription(): string {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'workers'], { cwd: ROOT, encoding: 'utf8' }).trim();
    return `emdb-js at ${commit}${dirty ? ' + uncommitted engine changes' : ''}`;
  } catch {
    return 'emdb-js git revision unknown';
  }
}

/** bench/results/<date>-<n>.json with the first unused n for today. */
function resultsFileFor(date: string): string {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const day = date.slice(0, 10);
  let n = 1;
  while (fs.existsSync(path.join(RESULTS_DIR, `${day}-${n}.json`))) n++;
  return path.join(RESULTS_DIR, `${day}-${n}.json`);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const args = parseArgs(argv);
  const quick = args.has('quick');
  const records = intArg(args, 'records', 1_000_000);
  const seed = intArg(args, 'seed', DEFAULT_SEED);
  const threadsArg = args.get('threads') ?? '2,4';
  const threads = threadsArg.split(',').map((t) => Number(t));
  if (threads.some((t) => !Number.isInteger(t) || t < 1)) throw new Error(`--threads must list thread counts, got ${threadsArg}`);
  const stores = parseStores(args.get('stores'));
  const timeoutMs = intArg(args, 'timeout-min', 60) * 60_000;
  const scale = scaleFor(records, quick, threads);
  const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const loadAvgAtStart = os.loadavg().map((x) => Math.round(x * 100) / 100);
  log(`emdb-js comparative bench: ${records.toLocaleString('en-US')} records${quick ? ' (quick)' : ''}, stores ${stores.join(', ')}`);

  let limits: MachineLimits | { error: string };
  if (args.has('skip-limits')) limits = { error: 'skipped (--skip-limits)' };
  else {
    try {
      limits = measureLimits(quick);
    } catch (err) {
      limits = { error: errorMessage(err) };
    }
  }
  const childArgs = ['--records', String(records), '--seed', String(seed), '--threads', threadsArg, ...(quick ? ['--quick'] : [])];
  const results: StoreRun[] = [];
  for (const store of stores) results.push(await runStoreInChild(store, childArgs, timeoutMs));
  const groupCommit: GroupCommitResult = args.has('skip-group-commit')
    ? { kind: 'na', reason: 'skipped (--skip-group-commit)' }
    : stores.includes('emdb-js')
      ? await groupCommitInChild(quick, timeoutMs)
      : { kind: 'na', reason: 'emdb-js not selected (--stores)' };
  const durableLatency = stores.includes('emdb-js') && !args.has('skip-group-commit') ? await durableLatencyInChild(quick, timeoutMs) : undefined;

  const cpus = os.cpus();
  const run: BenchRun = {
    date,
    command: `node dist/bench/run.js${argv.length ? ` ${argv.join(' ')}` : ''}`,
    machine: {
      cpu: cpus[0]?.model.trim() ?? 'unknown CPU',
      cpus: cpus.length,
      totalMemBytes: os.totalmem(),
      platform: os.platform(),
      release: os.release(),
      tmpdir: os.tmpdir(),
      loadAvgAtStart,
    },
    node: process.version,
    git: gitDescription(),
    seed,
    scale,
    stores: results,
    limits,
    groupCommit,
    ...(durableLatency ? { durableLatency } : {}),
  };
  process.stdout.write(`\n${renderTable(run)}\n`);
  if (args.has('no-write')) return;
  const resultsFile = resultsFileFor(date);
  fs.writeFileSync(resultsFile, `${JSON.stringify(run, null, 2)}\n`);
  writeSvg(BENCH_SVG, run);
  updateBenchMarkdown(BENCH_MD, renderBlock(run, path.relative(ROOT, resultsFile), path.relative(ROOT, BENCH_SVG)));
  log(`\nwrote ${path.relative(ROOT, resultsFile)}, ${path.relative(ROOT, BENCH_MD)}, ${path.relative(ROOT, BENCH_SVG)}`);
}

main().catch((err: unknown) => {
  log(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
