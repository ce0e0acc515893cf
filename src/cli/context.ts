/**
 * What every CLI command shares: exit codes, the output sink (backpressure,
 * EPIPE), cancellation on SIGINT/SIGTERM/EPIPE, and opening the database so that
 * whatever stops the command still closes it (the lock is released and the
 * log is left as the last acknowledged write made it).
 */
import { once } from 'node:events';
import fs from 'node:fs';
import { DATA_START } from '../format/constants.js';
import { decodePrelude, encodingNameOf } from '../format/header.js';
import { Emdb, EmdbError, ErrorCode, type ErrorCodeValue, type OpenOptions, type ValueEncoding } from '../index.js';
import { encryptionFromFlags } from './secrets.js';

export { CliExit, Exit, notFound, usageError, type Flags } from './exit.js';
import { CliExit, Exit, notFound, type Flags } from './exit.js';

/** Writes to a stream, waiting for 'drain' so that a slow reader bounds our memory. */
export class Sink {
  private pending: string[] = [];
  private pendingBytes = 0;

  constructor(
    readonly stream: NodeJS.WritableStream,
    private readonly signal: AbortSignal,
  ) {}

  /** Buffers small text writes into ~64 KiB chunks: one stream write per line costs more than the encoding. */
  async text(s: string): Promise<void> {
    this.pending.push(s);
    this.pendingBytes += s.length;
    if (this.pendingBytes >= 64 << 10) await this.flushText();
  }

  async bytes(b: Uint8Array): Promise<void> {
    await this.flushText();
    await this.raw(b);
  }

  async flushText(): Promise<void> {
    if (this.pending.length === 0) return;
    const s = this.pending.join('');
    this.pending = [];
    this.pendingBytes = 0;
    await this.raw(s);
  }

  private async raw(chunk: string | Uint8Array): Promise<void> {
    this.signal.throwIfAborted();
    if (!this.stream.write(chunk)) await once(this.stream as NodeJS.EventEmitter, 'drain', { signal: this.signal });
  }
}

export class Context {
  readonly controller = new AbortController();
  readonly signal: AbortSignal = this.controller.signal;
  readonly stdout: Sink;
  /** Why the command was stopped: 'SIGINT', 'SIGTERM', 'EPIPE'; undefined while running. */
  stopReason: string | undefined;
  private readonly dbs: Emdb<Buffer>[] = [];

  constructor(readonly json: boolean) {
    this.stdout = new Sink(process.stdout, this.signal);
  }

  get stopped(): boolean {
    return this.signal.aborted;
  }

  stop(reason: string): void {
    if (this.stopReason === undefined) this.stopReason = reason;
    this.controller.abort(new CliExit(reason === 'EPIPE' ? Exit.OK : Exit.INTERRUPTED, `stopped by ${reason}`));
  }

  /** Messages for humans go to stderr, so stdout stays data only. */
  note(message: string): void {
    if (!this.json) process.stderr.write(`${message}\n`);
  }

  /**
   * Opens the database at `path`. Commands that only read refuse a path with no
   * database (exit 2) instead of creating an empty one there.
   */
  async open(path: string, flags: Flags, opts: { create?: boolean; extra?: OpenOptions } = {}): Promise<Emdb<Buffer>> {
    if (!opts.create) assertDatabaseExists(path);
    const encryption = await encryptionFromFlags(flags);
    // One reader thread: a CLI run makes few async reads, and each thread costs start-up time.
    // Raw values: the stored bytes whatever encoding the database and its namespaces recorded (a
    // database made with valueEncoding 'utf8' or a 'json' namespace is read and dumped like any other).
    const options = { readers: 1, ...(encryption ? { encryption } : {}), ...opts.extra, [RAW_VALUES]: true };
    const db = await Emdb.open<Buffer>(path, options);
    this.dbs.push(db);
    return db;
  }

  /** Closes every database this run opened; idempotent. */
  async closeAll(): Promise<void> {
    const dbs = this.dbs.splice(0);
    for (const db of dbs) await db.close();
  }
}

/** The open option that makes every value the stored bytes (src/options.ts, RAW_VALUES): the CLI is a byte-level tool. */
const RAW_VALUES = Symbol.for('emdb-js.rawValues');

/**
 * The value encoding the database at `path` recorded at creation (its
 * prelude), undefined for a file of format 1 or 2, which records none.
 */
export function recordedEncoding(path: string): ValueEncoding | undefined {
  const header = Buffer.alloc(DATA_START);
  const fd = fs.openSync(path, 'r');
  try {
    fs.readSync(fd, header, 0, DATA_START, 0);
  } finally {
    fs.closeSync(fd);
  }
  return encodingNameOf(decodePrelude(header).valueEncoding);
}

export function assertDatabaseExists(path: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch {
    throw notFound(`no database at ${path}`);
  }
  if (!st.isFile()) throw notFound(`${path} is not a database file`);
}

/** The next step to suggest under an error with this code. */
const HINTS: Partial<Record<ErrorCodeValue, string>> = {
  [ErrorCode.LOCKED]:
    'another process has this database open. `emdb-js lock-holder PATH` shows which; if that process is gone, `emdb-js break-lock PATH` removes its lock (`--force` when it ran on another host or in another container, which this host cannot check: only when you are sure it is gone).',
  [ErrorCode.CORRUPTION]: '`emdb-js verify PATH` reports the first damaged offset; restore from a backup, or `emdb-js dump PATH --salvage` writes what still reads (and lists what it skipped) for `load` into a new database.',
  [ErrorCode.NOT_A_DATABASE]: 'the path is not an emdb-js database; check it.',
  [ErrorCode.ENCRYPTION_KEY_MISMATCH]: 'pass the right key with --encryption-key-file/--encryption-key-env or --passphrase-file/--passphrase-env.',
};

/** The one-line hint printed under an error, where there is a next step to suggest. */
export function hintFor(err: unknown): string | undefined {
  return err instanceof EmdbError ? HINTS[err.code] : undefined;
}
