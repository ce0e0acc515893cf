/**
 * The Markdown report: a table with one row per phase and one column per
 * store, plus "emdb-js vs best peer" and "vs limit". It replaces the block
 * between BENCH_START and BENCH_END in docs/BENCH.md (creating the file with a
 * short intro if missing).
 */
import fs from 'node:fs';
import path from 'node:path';
import { formatBytes, formatMs, formatPercent, formatRate, formatRatio, formatValue } from './format.js';
import type { DurableLatency } from './durable-latency.js';
import { phaseDefs, phaseResult, type BenchRun, type MachineLimits, type PhaseDef, type StoreRun } from './results.js';

export const BENCH_START = '<!-- bench:start -->';
export const BENCH_END = '<!-- bench:end -->';
const EMDB = 'emdb-js';

/** Numbered footnotes, one per distinct text. */
class Notes {
  private readonly texts: string[] = [];
  ref(text: string): string {
    let i = this.texts.indexOf(text);
    if (i < 0) i = this.texts.push(text) - 1;
    return `[${i + 1}]`;
  }
  render(): string[] {
    return this.texts.map((t, i) => `${i + 1}. ${t}`);
  }
}

/** "higher is better" score of a value in its phase (for ratios between stores). */
export function betterRatio(def: PhaseDef, a: number, b: number): number {
  return def.better === 'higher' ? a / b : b / a;
}

function okValue(run: StoreRun | undefined, def: PhaseDef): number | undefined {
  const v = run && phaseResult(run, def);
  return v?.kind === 'ok' ? v.value : undefined;
}

function limitsOf(run: BenchRun): MachineLimits | undefined {
  return 'error' in run.limits ? undefined : run.limits;
}

function cell(def: PhaseDef, store: StoreRun, best: number | undefined, notes: Notes): string {
  if (store.status === 'missing') return 'missing';
  const v = phaseResult(store, def);
  const shared = store.store !== EMDB && def.peerPhase ? ` ${notes.ref(`${store.store}: one durability mode; the same measurement as the onEachFlush row`)}` : '';
  if (v === undefined) return `— ${notes.ref(`${store.store}: not measured (${store.reason ?? 'the run stopped before this phase'})`)}`;
  if (v.kind === 'na') return `N/A ${notes.ref(`${store.store}: ${v.reason}`)}`;
  if (v.kind === 'error') return `error ${notes.ref(`${store.store} failed: ${v.reason}`)}`;
  const text = formatValue(v.value, def.unit);
  const missNote = v.misses ? ` ${notes.ref(`${store.store}: ${v.misses.toLocaleString('en-US')} of ${v.ops?.toLocaleString('en-US')} reads in "${def.label}" found no value`)}` : '';
  return (v.value === best ? `**${text}**` : text) + missNote + shared;
}

function versusPeers(def: PhaseDef, run: BenchRun): string {
  const emdb = okValue(run.stores.find((s) => s.store === EMDB), def);
  if (emdb === undefined) return '—';
  let best: { store: string; value: number } | undefined;
  for (const s of run.stores) {
    const v = okValue(s, def);
    if (s.store === EMDB || v === undefined) continue;
    if (!best || betterRatio(def, v, best.value) > 1) best = { store: s.store, value: v };
  }
  return best ? `${formatRatio(betterRatio(def, emdb, best.value), def.unit)} (vs ${best.store})` : '—';
}

function versusLimit(def: PhaseDef, run: BenchRun, notes: Notes): string {
  const limits = limitsOf(run);
  const emdb = okValue(run.stores.find((s) => s.store === EMDB), def);
  if (!def.limit || !limits || emdb === undefined) return '—';
  const limit = def.limit(limits, run.scale);
  return `${formatPercent(betterRatio(def, emdb, limit.value))} of ${formatValue(limit.value, def.unit)} ${notes.ref(`limit for "${def.label}": ${limit.what}`)}`;
}

export function renderTable(run: BenchRun): string {
  const notes = new Notes();
  const stores = run.stores;
  const header = stores.map((s) => (s.status === 'ok' ? s.store : `${s.store} ${notes.ref(`${s.store} ${s.status}: ${s.reason ?? '?'}`)}`));
  const lines = [
    `| phase | ${header.join(' | ')} | emdb-js vs best peer | emdb-js vs limit |`,
    `|---|${stores.map(() => '--:').join('|')}|--:|--:|`,
  ];
  for (const def of phaseDefs(run.scale)) {
    const values = stores.map((s) => okValue(s, def)).filter((v): v is number => v !== undefined);
    const best = values.length > 1 ? values.reduce((a, b) => (betterRatio(def, a, b) >= 1 ? a : b)) : undefined;
    const unit = def.unit === 'ms' ? 'ms, lower is better' : def.unit === 'ops/s' ? 'reads/s, higher is better' : 'lower is better';
    lines.push(
      `| ${def.label} <sub>(${unit})</sub> | ${stores.map((s) => cell(def, s, best, notes)).join(' | ')} | ${versusPeers(def, run)} | ${versusLimit(def, run, notes)} |`,
    );
  }
  for (const s of stores) {
    if (s.status === 'ok' && s.reason) notes.ref(`${s.store} warnings: ${s.reason}`);
  }
  return [...lines, '', ...notes.render()].join('\n');
}

function renderLimits(run: BenchRun): string {
  const l = limitsOf(run);
  if (!l) return `Machine limits: not measured (${'error' in run.limits ? run.limits.error : '?'}).`;
  return [
    '| machine limit | value |',
    '|---|--:|',
    `| 174-byte random pread (page cache) | ${formatRate(l.preadPerSec)} |`,
    `| 150-byte copy out of a SharedArrayBuffer | ${formatRate(l.memcpyPerSec)} |`,
    `| 200-byte append + fdatasync (info: the file grows) | ${formatRate(l.fdatasyncPerSec)} (${formatMs(1000 / l.fdatasyncPerSec)} each) |`,
    `| 200-byte write into allocated space + fdatasync (the fdatasync limit) | ${formatRate(l.fdatasyncOverwritePerSec)} (${formatMs(1000 / l.fdatasyncOverwritePerSec)} each) |`,
    `| sequential write + fsync | ${formatBytes(l.seqWriteBytesPerSec)}/s |`,
    '',
    ...l.notes.map((n) => `- ${n}`),
  ].join('\n');
}

const SHAPE_TEXT: Record<string, string> = {
  together: '8 worker threads: insert + flush issued together (one message)',
  sequential: '8 worker threads: await insert, then await flush',
  async: '8 async producers on one thread: insert + flush together',
};

function renderGroupCommit(run: BenchRun): string {
  const g = run.groupCommit;
  if (g.kind === 'na') return `Group commit: N/A (${g.reason}).`;
  const rounds = g.rounds ?? 1;
  const lines = [
    `Group commit — ${g.producers} producers × ${g.writesEach} writes, each write durable before the next; producers: ${g.mode}; ` +
      `${rounds} interleaved round${rounds === 1 ? '' : 's'} per policy, median (speedup: median of the per-round ratios). ` +
      `**group / onEachFlush: ${g.speedup.toFixed(2)}×.**` +
      (g.ceilingWritesPerSec
        ? ` Physical ceiling measured in the run (${g.producers} × 200 B per fdatasync into allocated space): ${formatRate(g.ceilingWritesPerSec)} writes/s (rounds: ${(g.ceilingRoundsWritesPerSec ?? []).map((r) => formatRate(r)).join(', ')}).`
        : ''),
    '',
    '| producer loop | flushPolicy | writes/s | rounds (writes/s) | fdatasyncs | writes per sync | mean fdatasync | CPU per write | vs onEachFlush | vs ceiling |',
    '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|',
  ];
  const total = g.producers * g.writesEach;
  for (const p of g.policies) {
    const perSync = p.syncs ? (total / p.syncs).toFixed(1) : '—';
    const ratio = p.vsOnEachFlush ?? (p.policy.startsWith('group') ? g.speedup : p.policy === 'onEachFlush' ? 1 : undefined);
    lines.push(
      `| ${SHAPE_TEXT[p.shape ?? ''] ?? 'write, then flush'} | ${p.policy} | ${formatRate(p.writesPerSec)} | ${(p.roundsWritesPerSec ?? []).map((r) => formatRate(r)).join(', ') || '—'} | ` +
        `${p.syncs?.toLocaleString('en-US') ?? '—'} | ${perSync} | ${p.syncUs === undefined ? '—' : `${Math.round(p.syncUs)} µs`} | ${p.cpuUsPerWrite === undefined ? '—' : `${Math.round(p.cpuUsPerWrite)} µs`} | ${ratio === undefined ? '—' : `${ratio.toFixed(2)}×`} | ${p.vsCeiling === undefined ? '—' : `${p.vsCeiling.toFixed(2)}×`} |`,
    );
  }
  const ceilings = groupCommitCeilings(g);
  if (ceilings.length > 0) lines.push('', ...ceilings);
  return lines.join('\n');
}

/**
 * The most group commit could gain in this run: if everything but the sync took
 * no time, `producers` writes would complete per group fdatasync (one sync per
 * full batch), so group could do at most producers / (its mean sync) writes/s.
 */
function groupCommitCeilings(g: Extract<BenchRun['groupCommit'], { kind: 'ok' }>): string[] {
  const out: string[] = [];
  for (const shape of new Set(g.policies.map((p) => p.shape))) {
    const base = g.policies.find((p) => p.shape === shape && p.policy === 'onEachFlush');
    const group = g.policies.find((p) => p.shape === shape && p.policy.startsWith('group'));
    if (!base || !group?.syncUs) continue;
    const bound = (g.producers * 1e6) / group.syncUs;
    out.push(
      `- ${SHAPE_TEXT[shape ?? ''] ?? 'write, then flush'}: with zero CPU per write, group would reach at most ${formatRate(bound)} writes/s ` +
        `(${g.producers} per ${Math.round(group.syncUs)} µs sync) = **${(bound / base.writesPerSec).toFixed(2)}× onEachFlush** in this run.`,
    );
  }
  return out;
}

function renderDurableLatency(run: BenchRun): string {
  const d = run.durableLatency;
  if (!d) return '';
  if ('error' in d) return `Durable write latency: not measured (${d.error}).`;
  const us = (x: { medianUs: number; p90Us: number }): string => `${x.medianUs.toLocaleString('en-US')} / ${x.p90Us.toLocaleString('en-US')} µs`;
  const side = (t: DurableLatency['mainThread'] | { error: string }, pick: (r: DurableLatency['mainThread']) => { medianUs: number; p90Us: number }): string =>
    'error' in t ? 'error' : us(pick(t));
  const rows: [string, (r: DurableLatency['mainThread']) => { medianUs: number; p90Us: number }][] = [
    ['`await insert` (applied, not synced)', (r) => r.insert],
    ['`await flush` with nothing new to sync (a bare round trip)', (r) => r.flushNothingNew],
    ['`await insert`, then `await flush`', (r) => r.insertThenFlush],
    ['`await Promise.all([insert, flush])` (one message)', (r) => r.insertWithFlush],
  ];
  return [
    `Durable write latency, one producer, onEachFlush (median / p90; \`node dist/bench/durable-latency.js\`). The disk: 100-byte append + fdatasync ${us(d.appendSync)}.`,
    '',
    '| step | opening thread | attached worker |',
    '|---|--:|--:|',
    ...rows.map(([label, pick]) => `| ${label} | ${side(d.mainThread, pick)} | ${side(d.attached, pick)} |`),
    ...(d.perPolicy
      ? [
          '',
          'One producer on the opening thread, per flush policy (median / p90):',
          '',
          '| flushPolicy | `await insert`, then `await flush` | `await Promise.all([insert, flush])` |',
          '|---|--:|--:|',
          ...d.perPolicy.map((p) => `| ${p.policy} | ${us(p.insertThenFlush)} | ${us(p.insertWithFlush)} |`),
        ]
      : []),
    ...(d.single ? ['', renderSingle(d.single)] : []),
  ].join('\n');
}

/** Durable single writes against the fdatasync limit and better-sqlite3 (durable-single.ts). */
function renderSingle(s: NonNullable<DurableLatency['single']>): string {
  if ('error' in s) return `Durable single writes: not measured (${s.error}).`;
  const rate = (x: number | null): string => (x === null ? 'n/a' : `${Math.round(x).toLocaleString('en-US')}/s`);
  const ratio = (x: number | null): string => (x === null ? 'n/a' : `${x.toFixed(2)}×`);
  return [
    `Durable single writes, ${s.iterations} per contender in ${s.rounds} interleaved rounds (medians; \`node dist/bench/durable-single.js\`):`,
    '',
    '| contender | writes/s | vs the limit |',
    '|---|--:|--:|',
    `| 200 B write into allocated space + fdatasync (the limit) | ${rate(s.limitPerSec)} | 1.00× |`,
    `| 200 B append + fdatasync (file grows) | ${rate(s.growPerSec)} | ${ratio(s.ratios.growVsLimit)} |`,
    `| 200 B write into fallocated space + fdatasync | ${rate(s.fallocatedPerSec)} | ${ratio(s.ratios.fallocatedVsLimit)} |`,
    `| emdb-js onEachFlush, await insert then await flush | ${rate(s.emdbPerSec)} | ${ratio(s.ratios.emdbVsLimit)} |`,
    `| emdb-js onEachFlush, insert + flush in one tick | ${rate(s.emdbSameTickPerSec)} | ${ratio(s.emdbSameTickPerSec / s.limitPerSec)} |`,
    `| better-sqlite3 (WAL, synchronous=FULL) | ${rate(s.betterSqlite3PerSec)} | ${ratio(s.betterSqlite3PerSec === null ? null : s.betterSqlite3PerSec / s.limitPerSec)} |`,
    '',
    `emdb-js vs better-sqlite3: ${ratio(s.ratios.emdbVsBetterSqlite3)}; emdb-js's own fdatasync: ${s.emdbSyncMsPerFlush} ms per flush.`,
  ].join('\n');
}

export function renderBlock(run: BenchRun, resultsFile: string, svgFile: string): string {
  const m = run.machine;
  const stores = run.stores.map((s) => s.version ?? s.store).join(', ');
  return [
    BENCH_START,
    `Run ${run.date} — \`${run.command}\``,
    '',
    `Machine: ${m.cpu} × ${m.cpus}, ${formatBytes(m.totalMemBytes)} RAM, ${m.platform} ${m.release}, temp dir ${m.tmpdir}, load average at start ${m.loadAvgAtStart.join(' / ')}; Node ${run.node}; ${run.git}.`,
    `Stores: ${stores}. Records: ${run.scale.records.toLocaleString('en-US')}, 24-byte random keys, 150-byte random values, seed ${run.seed}.`,
    `Raw results: \`${resultsFile}\`. Chart: \`${svgFile}\`.`,
    '',
    renderTable(run),
    '',
    renderLimits(run),
    '',
    renderGroupCommit(run),
    ...(run.durableLatency ? ['', renderDurableLatency(run)] : []),
    BENCH_END,
  ].join('\n');
}

const INTRO = `# Benchmarks

emdb-js against lmdb, classic-level (LevelDB) and better-sqlite3 (WAL,
synchronous=FULL), with the workload shape of the emdb-rs / redb bench:
24-byte random keys, 150-byte random values, a fixed-seed PRNG. Every store runs
in its own child process in a fresh temp directory, so RSS is per store. The
machine limits (pread, memcpy, fdatasync, sequential write) are measured in the
same run.

\`\`\`sh
npm run bench                 # 1,000,000 records
npm run bench:quick           # 100,000 records, fewer reads and writes
npm run build && node dist/bench/run.js --records 20000 --quick --stores lmdb,classic-level,better-sqlite3
npm run bench:core            # emdb-js vs lmdb micro benchmark, 200,000 records
\`\`\`

How each phase is done per store is documented in \`bench/README.md\`.
The block below is rewritten by every run of \`bench/run.ts\`.

`;

/** Replaces the marked block of docs/BENCH.md, creating the file when needed. */
export function updateBenchMarkdown(file: string, block: string): void {
  let text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : `${INTRO}${BENCH_START}\n${BENCH_END}\n`;
  const start = text.indexOf(BENCH_START);
  const end = text.indexOf(BENCH_END);
  if (start < 0 || end < start) {
    text = `${text.trimEnd()}\n\n${block}\n`;
  } else {
    text = text.slice(0, start) + block + text.slice(end + BENCH_END.length);
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
}
