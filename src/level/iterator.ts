import { AbstractIterator, type AbstractIteratorOptions } from 'abstract-level';
import { captureSnapshot, type RangeSnapshot } from '../range/snapshot.js';
import type { SharedView } from '../shm/shared-view.js';
import { SnapshotCursor, type CursorEntry, type LevelRange } from './cursor.js';

type Entry = CursorEntry;

/** What abstract-level passes to db._iterator(): encoded bounds, formats, flags. */
export interface PrivateIteratorOptions extends LevelRange {
  reverse: boolean;
  keys: boolean;
  values: boolean;
  limit: number;
  keyEncoding: string;
  valueEncoding: string;
  /** An explicit snapshot (db.snapshot()); otherwise the iterator takes its own. */
  snapshot?: { readonly rangeSnapshot: RangeSnapshot } | null;
}

/** Where the iterator reads: the shared view and namespace of the database. */
export interface IteratorSource {
  view: SharedView;
  ns: number;
}

/**
 * A Level iterator over one emdb-js snapshot: the one of db.snapshot() when
 * given, else one taken here, synchronously, when db.iterator() is called
 * (implicit snapshot: later writes are not visible). Entries are read on this
 * thread without a message to the writer.
 */
// The database type parameter only serves abstract-level's typings.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export class EmdbIterator extends AbstractIterator<any, Buffer | string, Buffer | string> {
  private readonly cursor: SnapshotCursor;

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  constructor(db: any, source: IteratorSource, options: PrivateIteratorOptions) {
    super(db, options as unknown as AbstractIteratorOptions<Buffer | string, Buffer | string>);
    const snap = options.snapshot?.rangeSnapshot ?? captureSnapshot(source.view);
    this.cursor = new SnapshotCursor(source.view, snap, source.ns, options, options.reverse, {
      keys: options.keys ? (options.keyEncoding === 'utf8' ? 'utf8' : 'buffer') : null,
      values: options.values ? (options.valueEncoding === 'utf8' ? 'utf8' : 'buffer') : null,
    });
  }

  async _next(): Promise<Entry | undefined> {
    return this.cursor.next();
  }

  async _nextv(size: number): Promise<Entry[]> {
    return this.cursor.nextv(size);
  }

  async _all(): Promise<Entry[]> {
    // abstract-level counts only what _nextv() yields; here the limit is ours to keep.
    const left = this.limit - this.count;
    return left === Infinity ? this.cursor.all() : this.cursor.nextv(left);
  }

  _seek(target: string | Uint8Array): void {
    this.cursor.seek(target);
  }
}
