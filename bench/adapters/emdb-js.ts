/**
 * emdb-js, written against /work/shared/API.md. The engine is loaded with a
 * dynamic import and used through the structural types below, so a method this
 * build does not have yet (compact, handle/attach, rangeIter) becomes an N/A
 * cell with the reason instead of a crash or a type error.
 */
import path from 'node:path';
import type { Entry } from '../workload.js';
import { copyTree, pipelined, projectVersion, sizeOnDisk } from '../util.js';
import { NotApplicable, type FlushPolicyKind, type SizeOnDisk, type StoreAdapter, type ThreadReader } from './types.js';

export type FlushPolicy =
  | { kind: 'onEachFlush' }
  | { kind: 'group'; maxWaitMs: number; maxBatch: number }
  | { kind: 'writeThrough' };

export interface EmdbOpenOptions {
  readers?: number;
  flushPolicy?: FlushPolicy;
  rangeScans?: boolean;
}

/** The slice of the API.md surface the benchmarks use; optional = may not be shipped yet. */
export interface EmdbLike {
  insert(key: Uint8Array | string, value: Uint8Array | string): Promise<void>;
  insertMany(entries: Iterable<readonly [Uint8Array, Uint8Array]>): Promise<number>;
  get(key: Uint8Array | string): Promise<Buffer | undefined>;
  getSync(key: Uint8Array | string): Buffer | undefined;
  getMany(keys: Iterable<Uint8Array | string>): Promise<(Buffer | undefined)[]>;
  remove(key: Uint8Array | string): Promise<boolean>;
  removeMany?(keys: Iterable<Uint8Array | string>): Promise<number>;
  flush(): Promise<void>;
  checkpoint?(): Promise<void>;
  compact?(): Promise<unknown>;
  rangeIter?(start: Uint8Array, end: Uint8Array, opts?: { reverse?: boolean; limit?: number }): AsyncIterable<[Buffer, Buffer]>;
  handle?(): unknown;
  close(): Promise<void>;
}

export interface EmdbStatic {
  open(path: string, options?: EmdbOpenOptions): Promise<EmdbLike>;
  openInMemory?(options?: EmdbOpenOptions): Promise<EmdbLike>;
  attach?(handle: unknown): Promise<EmdbLike>;
}

/** Loads Emdb from the compiled engine (dist/src/index.js at run time). */
export async function loadEmdb(): Promise<EmdbStatic> {
  const mod = (await import('../../src/index.js')) as unknown as { Emdb?: EmdbStatic };
  if (typeof mod.Emdb?.open !== 'function') throw new Error('src/index.js does not export Emdb.open');
  return mod.Emdb;
}

export const RANGE_NOT_SHIPPED = 'range scans not yet shipped';
/** The group policy of every bench (group-commit.ts uses it too). */
export const BENCH_GROUP_POLICY: FlushPolicy = { kind: 'group', maxWaitMs: 1, maxBatch: 8 };
const POLICIES: Record<FlushPolicyKind, FlushPolicy> = {
  onEachFlush: { kind: 'onEachFlush' },
  group: BENCH_GROUP_POLICY,
  writeThrough: { kind: 'writeThrough' },
};
const ABOVE_ALL_KEYS = Buffer.alloc(64, 0xff);

function missing(what: string): NotApplicable {
  return new NotApplicable(`${what} is not in this build of emdb-js`);
}

export class EmdbAdapter implements StoreAdapter {
  readonly name = 'emdb-js' as const;
  readonly version = `emdb-js ${projectVersion()} (this checkout)`;
  private db: EmdbLike | null = null;
  private dir = '';
  private rangeUnavailable: string | null = null;
  private policy: FlushPolicy = POLICIES.onEachFlush;

  constructor(
    private readonly Emdb: EmdbStatic,
    private readonly options: EmdbOpenOptions = {},
  ) {}

  private get e(): EmdbLike {
    if (!this.db) throw new Error('emdb-js is not open');
    return this.db;
  }

  private get file(): string {
    return path.join(this.dir, 'bench.emdb');
  }

  async open(dir: string): Promise<void> {
    this.dir = dir;
    this.db = await this.Emdb.open(this.file, { flushPolicy: this.policy, ...this.options });
  }

  async bulkLoad(entries: Iterable<Entry>): Promise<void> {
    await this.e.insertMany(entries);
    await this.e.flush();
  }

  async putDurable(key: Uint8Array, value: Uint8Array): Promise<void> {
    await this.e.insert(key, value);
    await this.e.flush();
  }

  async batchDurable(entries: readonly Entry[]): Promise<void> {
    await this.e.insertMany(entries);
    await this.e.flush();
  }

  putNoSync(key: Uint8Array, value: Uint8Array): Promise<void> {
    return this.e.insert(key, value);
  }

  async settleWrites(): Promise<void> {}

  getSync(key: Uint8Array): Uint8Array | undefined {
    return this.e.getSync(key);
  }

  getAsync(key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.e.get(key);
  }

  getMany(keys: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    return this.e.getMany(keys);
  }

  async removeMany(keys: readonly Uint8Array[], window: number): Promise<void> {
    // The bulk removal (crash-atomic chunks of tombstones), one flush at the end; a build
    // without it falls back to pipelined individual removes.
    const db = this.e;
    if (typeof db.removeMany === 'function') await db.removeMany(keys);
    else await pipelined(keys.length, window, (i) => db.remove(keys[i]!));
    await db.flush();
  }

  async compact(): Promise<void> {
    const db = this.e;
    if (typeof db.compact !== 'function') throw missing('db.compact()');
    await db.compact();
  }

  async prepareRangeReads(): Promise<void> {
    // Range queries need the sorted index, which is maintained only with rangeScans: true.
    await this.close();
    try {
      this.db = await this.Emdb.open(this.file, { flushPolicy: this.policy, ...this.options, rangeScans: true });
      if (typeof this.db.rangeIter !== 'function') this.rangeUnavailable = RANGE_NOT_SHIPPED;
    } catch {
      this.rangeUnavailable = RANGE_NOT_SHIPPED;
      await this.reopen();
    }
  }

  async rangeRead(start: Uint8Array, limit: number): Promise<number> {
    if (this.rangeUnavailable) throw new NotApplicable(this.rangeUnavailable);
    let n = 0;
    try {
      for await (const entry of this.e.rangeIter!(start, ABOVE_ALL_KEYS, { limit })) {
        if (entry[1]) n++;
      }
    } catch (err) {
      if (err instanceof Error && (err as { code?: string }).code === 'ERR_EMDB_RANGE_SCANS_DISABLED') {
        throw new NotApplicable(RANGE_NOT_SHIPPED);
      }
      throw err;
    }
    return n;
  }

  async close(): Promise<void> {
    await this.db?.close();
    this.db = null;
  }

  async reopen(): Promise<void> {
    this.db = await this.Emdb.open(this.file, { flushPolicy: this.policy, ...this.options });
  }

  async copyWhileOpen(toDir: string): Promise<void> {
    await this.e.flush();
    copyTree(this.dir, toDir, (name) => name.endsWith('.lock'));
  }

  async useFlushPolicy(mode: FlushPolicyKind): Promise<void> {
    await this.close();
    this.policy = POLICIES[mode];
    await this.reopen();
  }

  sizeOnDisk(): Promise<SizeOnDisk> {
    // The log file plus whatever side files (lock, hints) the engine keeps next to it.
    return sizeOnDisk(this.dir);
  }

  threadReaderSpec(): unknown {
    const db = this.e;
    if (typeof db.handle !== 'function' || typeof this.Emdb.attach !== 'function') {
      throw missing('db.handle() / Emdb.attach()');
    }
    return db.handle();
  }

  async openThreadReader(handle: unknown): Promise<ThreadReader> {
    if (typeof this.Emdb.attach !== 'function') throw missing('Emdb.attach()');
    const db = await this.Emdb.attach(handle);
    return {
      getSync: (key) => db.getSync(key),
      close: () => db.close(),
    };
  }
}

export async function createAdapter(): Promise<StoreAdapter> {
  return new EmdbAdapter(await loadEmdb());
}
