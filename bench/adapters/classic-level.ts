/**
 * classic-level 3.x (LevelDB). Binary keys and values. Durability is the
 * `sync: true` write option; `multithreading: true` lets worker threads open
 * the same location in this process.
 */
import path from 'node:path';
import { ClassicLevel } from 'classic-level';
import type { Entry } from '../workload.js';
import { copyTree, packageVersion, sizeOnDisk } from '../util.js';
import type { SizeOnDisk, StoreAdapter, ThreadReader } from './types.js';

/** Operations per batch during bulk load and removals. */
const BATCH_CHUNK = 10_000;
const LOWEST_KEY = Buffer.alloc(1, 0);
const ABOVE_ALL_KEYS = Buffer.alloc(64, 0xff);

type Level = ClassicLevel<Buffer, Buffer>;

interface ClassicSpec {
  location: string;
}

async function openLevel(location: string): Promise<Level> {
  const db = new ClassicLevel<Buffer, Buffer>(location, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open({ multithreading: true });
  return db;
}

export class ClassicLevelAdapter implements StoreAdapter {
  readonly name = 'classic-level' as const;
  readonly version = `classic-level ${packageVersion('classic-level')}`;
  private db: Level | null = null;
  private dir = '';

  private get level(): Level {
    if (!this.db) throw new Error('classic-level is not open');
    return this.db;
  }

  private get location(): string {
    return path.join(this.dir, 'leveldb');
  }

  async open(dir: string): Promise<void> {
    this.dir = dir;
    this.db = await openLevel(this.location);
  }

  async bulkLoad(entries: Iterable<Entry>): Promise<void> {
    let ops: { type: 'put'; key: Buffer; value: Buffer }[] = [];
    let full: typeof ops | null = null;
    for (const [key, value] of entries) {
      ops.push({ type: 'put', key: key as Buffer, value: value as Buffer });
      if (ops.length === BATCH_CHUNK) {
        if (full) await this.level.batch(full);
        full = ops;
        ops = [];
      }
    }
    if (ops.length > 0) {
      if (full) await this.level.batch(full);
      full = ops;
    }
    // The last batch is synced, which makes every earlier write durable too.
    if (full) await this.level.batch(full, { sync: true });
  }

  async putDurable(key: Uint8Array, value: Uint8Array): Promise<void> {
    await this.level.put(key as Buffer, value as Buffer, { sync: true });
  }

  async batchDurable(entries: readonly Entry[]): Promise<void> {
    await this.level.batch(
      entries.map(([key, value]) => ({ type: 'put' as const, key: key as Buffer, value: value as Buffer })),
      { sync: true },
    );
  }

  putNoSync(key: Uint8Array, value: Uint8Array): Promise<void> {
    return this.level.put(key as Buffer, value as Buffer);
  }

  async settleWrites(): Promise<void> {}

  getSync(key: Uint8Array): Uint8Array | undefined {
    // abstract-level 3 / classic-level 3 ship a native synchronous get.
    return this.level.getSync(key as Buffer);
  }

  getAsync(key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.level.get(key as Buffer);
  }

  getMany(keys: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    return this.level.getMany(keys as Buffer[]);
  }

  async removeMany(keys: readonly Uint8Array[]): Promise<void> {
    for (let start = 0; start < keys.length; start += BATCH_CHUNK) {
      const end = Math.min(keys.length, start + BATCH_CHUNK);
      const ops = keys.slice(start, end).map((key) => ({ type: 'del' as const, key: key as Buffer }));
      // The last batch is synced, which makes every earlier delete durable too.
      await this.level.batch(ops, { sync: end === keys.length });
    }
  }

  async compact(): Promise<void> {
    await this.level.compactRange(LOWEST_KEY, ABOVE_ALL_KEYS);
  }

  async prepareRangeReads(): Promise<void> {}

  async rangeRead(start: Uint8Array, limit: number): Promise<number> {
    const entries = await this.level.iterator({ gte: start as Buffer, limit }).all();
    return entries.length;
  }

  async close(): Promise<void> {
    await this.db?.close();
    this.db = null;
  }

  async reopen(): Promise<void> {
    this.db = await openLevel(this.location);
  }

  async copyWhileOpen(toDir: string): Promise<void> {
    // Every write since bulk load's last sync:true batch is in its log: the copy replays it on open.
    copyTree(this.dir, toDir, (name) => name === 'LOCK');
  }

  sizeOnDisk(): Promise<SizeOnDisk> {
    return sizeOnDisk(this.location);
  }

  threadReaderSpec(): ClassicSpec {
    return { location: this.location };
  }

  async openThreadReader(spec: unknown): Promise<ThreadReader> {
    const db = await openLevel((spec as ClassicSpec).location);
    return {
      getSync: (key) => db.getSync(key as Buffer),
      close: () => db.close(),
    };
  }
}

export function createAdapter(): StoreAdapter {
  return new ClassicLevelAdapter();
}
