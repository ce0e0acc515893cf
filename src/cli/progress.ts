/**
 * Progress on stderr: a cli-progress bar when stderr is a terminal, otherwise
 * one plain line per interval (logs and CI output stay readable, with no
 * carriage returns). Never on stdout, which carries data.
 */
import cliProgress from 'cli-progress';

const PLAIN_INTERVAL_MS = Number(process.env.EMDB_CLI_PROGRESS_MS ?? 2000);
/** EMDB_CLI_MEMORY=1 adds this process's memory to each plain line (how the tests watch a dump stay flat). */
const SHOW_MEMORY = process.env.EMDB_CLI_MEMORY === '1';

function memory(): string {
  const m = process.memoryUsage();
  const mib = (n: number): string => `${Math.round(n / 2 ** 20)}`;
  return `, rss ${mib(m.rss)} MiB, heap ${mib(m.heapUsed)} MiB, external ${mib(m.external)} MiB`;
}

export interface ProgressOptions {
  label: string;
  /** Unit shown after the numbers: 'records', 'bytes'. */
  unit: string;
  total: number | undefined;
  /** --quiet or --json: no progress at all. */
  quiet: boolean;
}

export class Progress {
  private value = 0;
  private bar: cliProgress.SingleBar | undefined;
  private readonly startedAt = Date.now();
  /** The first plain line comes one interval in: a short run prints only its final line. */
  private lastLine = this.startedAt;
  /** The value the last plain line showed. */
  private printed = -1;
  private readonly enabled: boolean;

  constructor(private readonly opts: ProgressOptions) {
    this.enabled = !opts.quiet;
    if (this.enabled && process.stderr.isTTY) {
      this.bar = new cliProgress.SingleBar(
        {
          stream: process.stderr,
          format: `${opts.label} [{bar}] {percentage}% | {value}/{total} ${opts.unit} | {eta_formatted} left`,
          hideCursor: true,
          etaBuffer: 50,
          formatValue: (v, _o, type) => (type === 'value' || type === 'total' ? Number(v).toLocaleString('en-US') : String(v)),
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(Math.max(opts.total ?? 0, 1), 0);
    }
  }

  set total(total: number) {
    this.opts.total = total;
    this.bar?.setTotal(Math.max(total, 1));
  }

  /** Absolute position (bytes copied so far, say). */
  update(value: number): void {
    this.value = value;
    if (!this.enabled) return;
    if (this.bar) {
      if (this.opts.total !== undefined && value > this.opts.total) this.bar.setTotal(value);
      this.bar.update(value);
      return;
    }
    const now = Date.now();
    if (now - this.lastLine >= PLAIN_INTERVAL_MS && value !== this.printed) {
      this.lastLine = now;
      this.printed = value;
      process.stderr.write(`${this.line()}\n`);
    }
  }

  add(n = 1): void {
    this.update(this.value + n);
  }

  /** Final line (or bar at its end); `outcome` says how it ended when it did not complete. */
  finish(outcome?: string): void {
    if (!this.enabled) return;
    if (this.bar) {
      if (!outcome) this.bar.setTotal(Math.max(this.value, 1));
      this.bar.update(this.value);
      this.bar.stop();
      if (outcome) process.stderr.write(`${this.opts.label}: ${outcome}\n`);
      return;
    }
    process.stderr.write(`${this.line()}${outcome ? ` (${outcome})` : ' done'}\n`);
  }

  private line(): string {
    const secs = (Date.now() - this.startedAt) / 1000;
    const total = this.opts.total;
    const pct = total ? ` (${Math.min(100, Math.floor((this.value / total) * 100))}%)` : '';
    const of = total !== undefined ? `/${total.toLocaleString('en-US')}` : '';
    return `${this.opts.label}: ${this.value.toLocaleString('en-US')}${of} ${this.opts.unit}${pct}, ${secs.toFixed(1)} s${SHOW_MEMORY ? memory() : ''}`;
  }
}
