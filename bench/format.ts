/** Number formatting shared by the Markdown and SVG reports. */
import type { Unit } from './results.js';

const KiB = 1024;
const MiB = KiB * 1024;
const GiB = MiB * 1024;

export function formatMs(ms: number): string {
  if (ms >= 100) return `${Math.round(ms).toLocaleString('en-US')} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

export function formatRate(perSec: number): string {
  if (perSec >= 1e6) return `${(perSec / 1e6).toFixed(2)} M/s`;
  if (perSec >= 1e3) return `${(perSec / 1e3).toFixed(1)} k/s`;
  return `${perSec.toFixed(0)} /s`;
}

export function formatBytes(bytes: number): string {
  if (bytes >= GiB) return `${(bytes / GiB).toFixed(2)} GiB`;
  if (bytes >= MiB) return `${(bytes / MiB).toFixed(1)} MiB`;
  if (bytes >= KiB) return `${(bytes / KiB).toFixed(1)} KiB`;
  return `${bytes} B`;
}

export function formatValue(value: number, unit: Unit): string {
  return unit === 'ms' ? formatMs(value) : unit === 'ops/s' ? formatRate(value) : formatBytes(value);
}

export function formatPercent(fraction: number): string {
  const pct = fraction * 100;
  return pct >= 10 ? `${Math.round(pct)}%` : `${pct.toFixed(1)}%`;
}

/** "2.10× faster" / "1.50× slower" (or smaller/larger for sizes) for a "higher is better" ratio. */
export function formatRatio(ratio: number, unit: Unit): string {
  const [good, bad] = unit === 'bytes' ? ['smaller', 'larger'] : ['faster', 'slower'];
  return ratio >= 1 ? `${ratio.toFixed(2)}× ${good}` : `${(1 / ratio).toFixed(2)}× ${bad}`;
}

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
