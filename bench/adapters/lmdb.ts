/**
 * lmdb (lmdb-js 3.x). Binary keys and values, default sync settings: on Linux
 * lmdb-js commits with overlappingSync, so durability is awaited via `db.flushed`.
 */
import path from 'node:path';
import { open, type RootDatabase } from 'lmdb';
import type { Entry } from '../workload.js';
import { copyTree, packageVersion, sizeOnDisk } from '../util.js';
import { NotApplicable, type SizeOnDisk, type StoreAdapter, type ThreadReader } from './types.js';

/** Entries per write transaction during bulk load and removals. */
const TXN_CHUNK = 100_000;

interface LmdbSpec {
  path: string;
}

function openEnv(dbPath: string, readOnly = false): RootDatabase<Buffer, Buffer> {
  return open<Buffer, Buffer>({ path: dbPath, encoding: 'binary', keyEncoding: 'binary', readOnly });
}

export class LmdbAdapter implements StoreAdapter {
  readonly name = 'lmdb' as const;
  readonly version = `lmdb ${packageVersion('lmdb')}`;
  private db: RootDatabase<Buffer, Buffer> | null = null;
  private dir = '';

  private get env(): RootDatabase<Buffer, Buffer> {
    if (!this.db) throw new Error('lmdb is not open');
    return this.db;
  }

  private get dbPath(): string {
    return path.join(this.dir, 'lmdb');
  }

  async open(dir: string): Promise<void> {
    this.dir = dir;
    this.db = openEnv(this.dbPath);
  }

  async bulkLoad(entries: Iterable<Entry>): Promise<void> {
    const db = this.env;
    const it = entries[Symbol.iterator]();
    let done = false;
    while (!done) {
      // One synchronous write transaction per chunk: putSync inside transactionSync.
      db.transactionSync(() => {
        for (let n = 0; n < TXN_CHUNK; n++) {
          const r = it.next();
          if (r.done) {
            done = true;
            return;
          }
          db.putSync(r.value[0] as Buffer, r.value[1] as Buffer);
        }
      });
    }
    await db.flushed;
  }

  async putDurable(key: Uint8Array, value: Uint8Array): Promise<void> {
    await this.env.put(key as Buffer, value as Buffer);
    await this.env.flushed;
  }

  async batchDurable(entries: readonly Entry[]): Promise<void> {
    const db = this.env;
    db.transactionSync(() => {
      for (const [k, v] of entries) db.putSync(k as Buffer, v as Buffer);
    });
    await db.flushed;
  }

  putNoSync(key: Uint8Array, value: Uint8Array): void {
    // The put promise settles only after the flush, so a nosync caller does not
    // await it; lmdb-js batches all puts issued in one event turn into one commit.
    void this.env.put(key as Buffer, value as Buffer);
  }

  async settleWrites(): Promise<void> {
    await this.env.committed;
  }

  getSync(key: Uint8Array): Uint8Array | undefined {
    return this.env.getBinary(key as Buffer);
  }

  /** lmdb-js's fastest sync read: the returned bytes are reused by the next call. */
  getSyncFast(key: Uint8Array): Uint8Array | undefined {
    return this.env.getBinaryFast(key as Buffer);
  }

  async getAsync(key: Uint8Array): Promise<Uint8Array | undefined> {
    // lmdb-js 3 getAsync: experimental asynchronous get (reads on a native thread).
    return (await this.env.getAsync(key as Buffer)) as unknown as Uint8Array | undefined;
  }

  getMany(keys: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    return this.env.getMany(keys as Buffer[]);
  }

  async removeMany(keys: readonly Uint8Array[]): Promise<void> {
    const db = this.env;
    for (let start = 0; start < keys.length; start += TXN_CHUNK) {
      db.transactionSync(() => {
        const end = Math.min(keys.length, start + TXN_CHUNK);
        for (let i = start; i < end; i++) db.removeSync(keys[i] as Buffer);
      });
    }
    await db.flushed;
  }

  async compact(): Promise<void> {
    throw new NotApplicable('LMDB has no in-place compaction: freed pages are reused, only a compacting copy (backup) shrinks the file');
  }

  async prepareRangeReads(): Promise<void> {}

  async rangeRead(start: Uint8Array, limit: number): Promise<number> {
    let n = 0;
    for (const entry of this.env.getRange({ start: start as Buffer, limit })) {
      if (entry.value) n++;
    }
    return n;
  }

  async close(): Promise<void> {
    await this.db?.close();
    this.db = null;
  }

  async reopen(): Promise<void> {
    this.db = openEnv(this.dbPath);
  }

  async copyWhileOpen(toDir: string): Promise<void> {
    await this.env.flushed;
    // The lock file holds reader slots of this process; a new open rebuilds it.
    copyTree(this.dir, toDir, (name) => name.endsWith('-lock') || name === 'lock.mdb');
  }

  sizeOnDisk(): Promise<SizeOnDisk> {
    return sizeOnDisk(this.dbPath);
  }

  threadReaderSpec(): LmdbSpec {
    return { path: this.dbPath };
  }

  async openThreadReader(spec: unknown): Promise<ThreadReader> {
    // lmdb-js is multi-thread aware: a worker opens the same env (read-only here).
    const db = openEnv((spec as LmdbSpec).path, true);
    return {
      // The reader thread only checks for a miss: the fastest read (bytes reused by the next call) is fair.
      getSync: (key) => db.getBinaryFast(key as Buffer),
      close: () => db.close(),
    };
  }
}

export function createAdapter(): StoreAdapter {
  return new LmdbAdapter();
}
