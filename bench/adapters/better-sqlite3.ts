/**
 * better-sqlite3 12.x: WAL mode, synchronous=FULL, one WITHOUT ROWID table with
 * BLOB keys. Every call is synchronous; async-only phases are N/A.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import type DatabaseType from 'better-sqlite3';
import type { Entry } from '../workload.js';
import { copyTree, packageVersion, sizeOnDisk } from '../util.js';
import { NotApplicable, type SizeOnDisk, type StoreAdapter, type ThreadReader } from './types.js';

/** Rows per transaction during bulk load and removals. */
const TXN_CHUNK = 100_000;
const SYNC_ONLY = 'better-sqlite3 has a synchronous API only (see the sync read rows)';

interface SqliteSpec {
  file: string;
}

/**
 * better-sqlite3 compiles SQLite from source on install (about two minutes here),
 * so it lives in bench/peers (`npm run bench:install`), not in the main install.
 * From dist/bench/adapters, that folder is three levels up.
 */
const peers = createRequire(new URL('../../../bench/peers/package.json', import.meta.url));
const Database = peers('better-sqlite3') as typeof DatabaseType;

type Db = DatabaseType.Database;
type Statement = DatabaseType.Statement;

class Connection {
  readonly insert: Statement;
  readonly get: Statement;
  readonly del: Statement;
  readonly range: Statement;
  private synchronous: 'FULL' | 'OFF' = 'FULL';

  constructor(readonly db: Db) {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec('CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID');
    this.insert = db.prepare('INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)');
    this.get = db.prepare('SELECT v FROM kv WHERE k = ?').pluck();
    this.del = db.prepare('DELETE FROM kv WHERE k = ?');
    this.range = db.prepare('SELECT k, v FROM kv WHERE k >= ? ORDER BY k LIMIT ?');
  }

  /** Durable phases commit with synchronous=FULL; the nosync phase switches to OFF. */
  setSynchronous(mode: 'FULL' | 'OFF'): void {
    if (this.synchronous === mode) return;
    this.db.pragma(`synchronous = ${mode}`);
    this.synchronous = mode;
  }
}

export class BetterSqlite3Adapter implements StoreAdapter {
  readonly name = 'better-sqlite3' as const;
  readonly version = `better-sqlite3 ${packageVersion('better-sqlite3', peers)}`;
  private conn: Connection | null = null;
  private dir = '';

  private get c(): Connection {
    if (!this.conn) throw new Error('better-sqlite3 is not open');
    return this.conn;
  }

  private get file(): string {
    return path.join(this.dir, 'kv.sqlite');
  }

  private durable(): Connection {
    const c = this.c;
    c.setSynchronous('FULL');
    return c;
  }

  async open(dir: string): Promise<void> {
    this.dir = dir;
    this.conn = new Connection(new Database(this.file));
  }

  async bulkLoad(entries: Iterable<Entry>): Promise<void> {
    const c = this.durable();
    const it = entries[Symbol.iterator]();
    let done = false;
    const chunk = c.db.transaction(() => {
      for (let n = 0; n < TXN_CHUNK; n++) {
        const r = it.next();
        if (r.done) {
          done = true;
          return;
        }
        c.insert.run(r.value[0], r.value[1]);
      }
    });
    while (!done) chunk();
  }

  async putDurable(key: Uint8Array, value: Uint8Array): Promise<void> {
    this.durable().insert.run(key, value);
  }

  async batchDurable(entries: readonly Entry[]): Promise<void> {
    const c = this.durable();
    c.db.transaction(() => {
      for (const [k, v] of entries) c.insert.run(k, v);
    })();
  }

  putNoSync(key: Uint8Array, value: Uint8Array): void {
    const c = this.c;
    c.setSynchronous('OFF');
    c.insert.run(key, value);
  }

  async settleWrites(): Promise<void> {}

  getSync(key: Uint8Array): Uint8Array | undefined {
    return this.c.get.get(key) as Buffer | undefined;
  }

  async getAsync(): Promise<Uint8Array | undefined> {
    throw new NotApplicable(SYNC_ONLY);
  }

  async getMany(): Promise<(Uint8Array | undefined)[]> {
    throw new NotApplicable(SYNC_ONLY);
  }

  async removeMany(keys: readonly Uint8Array[]): Promise<void> {
    const c = this.durable();
    const chunk = c.db.transaction((start: number) => {
      const end = Math.min(keys.length, start + TXN_CHUNK);
      for (let i = start; i < end; i++) c.del.run(keys[i]);
    });
    for (let start = 0; start < keys.length; start += TXN_CHUNK) chunk(start);
  }

  async compact(): Promise<void> {
    const c = this.durable();
    c.db.exec('VACUUM');
    // In WAL mode VACUUM goes through the WAL; truncate it so the file shrinks.
    c.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  async prepareRangeReads(): Promise<void> {}

  async rangeRead(start: Uint8Array, limit: number): Promise<number> {
    return this.c.range.all(start, limit).length;
  }

  async close(): Promise<void> {
    this.conn?.db.close();
    this.conn = null;
  }

  async reopen(): Promise<void> {
    this.conn = new Connection(new Database(this.file));
  }

  async copyWhileOpen(toDir: string): Promise<void> {
    // The database file and its WAL, not the wal-index (-shm): the copy's open rebuilds it from the WAL.
    copyTree(this.dir, toDir, (name) => name.endsWith('-shm'));
  }

  sizeOnDisk(): Promise<SizeOnDisk> {
    // kv.sqlite plus its -wal and -shm files.
    return sizeOnDisk(this.dir);
  }

  threadReaderSpec(): SqliteSpec {
    return { file: this.file };
  }

  async openThreadReader(spec: unknown): Promise<ThreadReader> {
    const db = new Database((spec as SqliteSpec).file, { readonly: true });
    const get = db.prepare('SELECT v FROM kv WHERE k = ?').pluck();
    return {
      getSync: (key) => get.get(key) as Buffer | undefined,
      close: async () => {
        db.close();
      },
    };
  }
}

export function createAdapter(): StoreAdapter {
  return new BetterSqlite3Adapter();
}
