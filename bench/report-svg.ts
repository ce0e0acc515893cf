/**
 * A dependency-free SVG bar chart of one run: one group per phase, one bar per
 * store, normalized per phase so the best store is 100% (higher is better for
 * every bar: times and sizes are inverted). N/A cells get a grey "n/a" mark.
 */
import fs from 'node:fs';
import path from 'node:path';
import { escapeXml, formatValue } from './format.js';
import { betterRatio } from './report-markdown.js';
import { phaseDefs, type BenchRun } from './results.js';

const COLORS: Record<string, string> = {
  'emdb-js': '#e8590c',
  lmdb: '#1c7ed6',
  'classic-level': '#2f9e44',
  'better-sqlite3': '#7048e8',
};
const BAR = 14;
const GROUP_GAP = 22;
const TOP = 64;
const PLOT_H = 260;
const LABEL_ANGLE = 35;
/** Rough width of a character of the 11px label font. */
const CHAR_W = 6;

export function renderSvg(run: BenchRun): string {
  const stores = run.stores;
  // Rows of emdb-js flush-policy variants repeat the peers' bars: the table has them.
  const defs = phaseDefs(run.scale).filter((d) => !d.peerPhase && stores.some((s) => s.phases[d.id]?.kind === 'ok'));
  const groupW = stores.length * BAR + GROUP_GAP;
  // Phase labels are slanted down-left from their group: make room on the left and below.
  const cos = Math.cos((LABEL_ANGLE * Math.PI) / 180);
  const sin = Math.sin((LABEL_ANGLE * Math.PI) / 180);
  const labelW = defs.map((d) => d.label.length * CHAR_W);
  const left = Math.round(Math.max(56, ...labelW.map((w, g) => w * cos - g * groupW - groupW / 2 + 8)));
  const labelH = Math.max(0, ...labelW) * sin + 24;
  const width = Math.ceil(left + defs.length * groupW + 24);
  const height = Math.ceil(TOP + PLOT_H + labelH + 40);
  const base = TOP + PLOT_H;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${left}" y="22" font-size="15" font-weight="600">${escapeXml(`emdb-js vs peers — ${run.scale.records.toLocaleString('en-US')} records, ${run.date.slice(0, 10)}`)}</text>`,
    `<text x="${left}" y="40" fill="#555">relative performance per phase: best store = 100% (times and sizes inverted, so taller is always better)</text>`,
  ];
  for (const pct of [0, 25, 50, 75, 100]) {
    const y = base - (pct / 100) * PLOT_H;
    out.push(`<line x1="${left}" x2="${width - 16}" y1="${y}" y2="${y}" stroke="${pct === 0 ? '#333' : '#e5e5e5'}"/>`);
    out.push(`<text x="${left - 6}" y="${y + 4}" text-anchor="end" fill="#555">${pct}%</text>`);
  }
  defs.forEach((def, g) => {
    const x0 = left + g * groupW + GROUP_GAP / 2;
    const values = stores.map((s) => {
      const v = s.phases[def.id];
      return v?.kind === 'ok' ? v.value : undefined;
    });
    const present = values.filter((v): v is number => v !== undefined);
    const best = present.reduce((a, b) => (betterRatio(def, a, b) >= 1 ? a : b), present[0]!);
    stores.forEach((s, i) => {
      const x = x0 + i * BAR;
      const v = values[i];
      if (v === undefined) {
        out.push(`<text x="${x + BAR / 2}" y="${base - 4}" transform="rotate(-90 ${x + BAR / 2} ${base - 4})" fill="#999" font-size="9">n/a</text>`);
        return;
      }
      const score = Math.max(0, Math.min(1, betterRatio(def, v, best)));
      const h = Math.round(Math.max(1, score * PLOT_H) * 10) / 10;
      const tip = `${s.store} — ${def.label}: ${formatValue(v, def.unit)} (${Math.round(score * 100)}% of best)`;
      out.push(`<rect x="${x + 1}" y="${Math.round((base - h) * 10) / 10}" width="${BAR - 2}" height="${h}" fill="${COLORS[s.store] ?? '#888'}"><title>${escapeXml(tip)}</title></rect>`);
    });
    const lx = x0 + (stores.length * BAR) / 2;
    out.push(`<text x="${lx}" y="${base + 12}" transform="rotate(-${LABEL_ANGLE} ${lx} ${base + 12})" text-anchor="end" fill="#222">${escapeXml(def.label)}</text>`);
  });
  let lx = left;
  const ly = height - 16;
  for (const s of stores) {
    out.push(`<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${COLORS[s.store] ?? '#888'}"/>`);
    const label = s.status === 'ok' ? s.store : `${s.store} (${s.status})`;
    out.push(`<text x="${lx + 16}" y="${ly}">${escapeXml(label)}</text>`);
    lx += 24 + label.length * 7;
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

export function writeSvg(file: string, run: BenchRun): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, renderSvg(run));
}
