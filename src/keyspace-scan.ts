import type { DbConnection } from './core/types.js';
import { EmdbError, ErrorCode } from './errors.js';
import type { ScanSource } from './protocol.js';
import { eventLoopTurn, YIELD_EVERY } from './range/iterator.js';
import { tableCapacity, unpackScan } from './shm/scan.js';
import type { SharedView } from './shm/shared-view.js';
import { pinGeneration, unpinGeneration } from './shm/framed-mirror.js';

/**
 * Index slots listed at a time (their LSNs, sorted: 8 bytes per live key, 4 MiB
 * at most), then read in log order LSNS_PER_CHUNK records per chunk: a few MiB
 * of entries at most, so memory stays flat. A window this wide means that
 * through the page cache each page or sealed unit is read about once per window
 * rather than once per record (shm/scan.ts, listLsns).
 */
const WINDOW_SLOTS = 1 << 19;
const LSNS_PER_CHUNK = 8_192;

/**
 * The iterator users get: once the database (or namespace) is closed, every
 * next() rejects with ERR_EMDB_CLOSED, also when entries were already read
 * ahead and also after it has rejected once (a bare generator would report
 * done then), as Level iterators do.
 */
export function closable<T>(gen: AsyncIterator<T>, assertLive: () => void): AsyncIterableIterator<T> {
  const it: AsyncIterableIterator<T> = {
    next: () => {
      try {
        assertLive();
      } catch (err) {
        // Ends the generator (no effect once it is done); it cannot fail here, the catch only marks it observed.
        gen.return?.(undefined).catch(() => undefined);
        return Promise.reject(err);
      }
      return gen.next();
    },
    return: (value?: unknown) => (gen.return ? gen.return(value as T) : Promise.resolve({ value: value as T, done: true as const })),
    throw: (err?: unknown) => (gen.throw ? gen.throw(err) : Promise.reject(err)),
    [Symbol.asyncIterator]: () => it,
  };
  return it;
}

/**
 * The connection's view once the writes this thread queued are applied: a round
 * trip to the writer after them, then the view brought to the current generation.
 */
export async function afterQueuedWrites(conn: DbConnection, ns: number, assertLive: () => void): Promise<SharedView> {
  assertLive();
  await conn.link.call({ t: 'count', ns });
  assertLive();
  const view = conn.view;
  view.sync();
  return view;
}

/**
 * A synchronous walk (the sorted index) handed out by an async generator: one
 * turn of the event loop every YIELD_EVERY entries, so a long `for await`
 * does not hold off timers, I/O and write replies until it ends.
 */
export async function* withTurns<T>(entries: Iterable<T>): AsyncGenerator<T> {
  let n = 0;
  for (const entry of entries) {
    yield entry;
    if (++n % YIELD_EVERY === 0) await eventLoopTurn();
  }
}

/**
 * Every live entry of namespace `ns` (KeySpace.iter/keys and group scans without
 * rangeScans; with it they read the sorted index, src/range/): the index table
 * in chunks read by the reader pool, one ahead.
 */
export async function* scanChunks(conn: DbConnection, ns: number, values: boolean, assertLive: () => void): AsyncGenerator<[Buffer, Buffer]> {
  const view = await afterQueuedWrites(conn, ns, assertLive);
  if (!view.index || !view.mirror) return;
  let mirror = view.mirror;
  let source: ScanSource = { index: view.index.buffer, ...mirror.shareable() };
  // G2: a log read through frames keeps its descriptor until the scan ends; a generation retired meanwhile: the next one.
  while (!pinGeneration(source, mirror)) {
    view.sync();
    if (!view.index || !view.mirror) return;
    mirror = view.mirror;
    source = { index: view.index.buffer, ...mirror.shareable() };
  }
  try {
    yield* scanSource(conn, ns, values, assertLive, source);
  } finally {
    unpinGeneration(source, mirror);
  }
}

async function* scanSource(conn: DbConnection, ns: number, values: boolean, assertLive: () => void, source: ScanSource): AsyncGenerator<[Buffer, Buffer]> {
  const capacity = tableCapacity(source.index);
  const settled = <T>(p: Promise<T>): Promise<T> =>
    p.catch((err: unknown) => {
      // The pool's threads are stopped by close(): its rejection is not an I/O failure.
      assertLive();
      throw err instanceof EmdbError ? err : new EmdbError(ErrorCode.IO, `iteration read failed: ${String(err)}`, { cause: err });
    });
  for (let from = 0; from < capacity; from += WINDOW_SLOTS) {
    const lsns = await settled(conn.pool.scanList(source, from, WINDOW_SLOTS));
    assertLive();
    let next = lsns.length > 0 ? scanAhead(conn, ns, source, lsns.subarray(0, LSNS_PER_CHUNK), values) : undefined;
    for (let at = 0; next; at += LSNS_PER_CHUNK) {
      const packed = await settled(next);
      assertLive();
      // Read one chunk ahead while the caller consumes this one.
      next = at + LSNS_PER_CHUNK < lsns.length ? scanAhead(conn, ns, source, lsns.subarray(at + LSNS_PER_CHUNK, at + 2 * LSNS_PER_CHUNK), values) : undefined;
      yield* unpackScan(packed);
    }
  }
}

/**
 * One chunk read ahead. Marked observed at once: a caller that breaks out of
 * the loop (or throws in it) never awaits it, and close() then stops the
 * reader running it, which would otherwise reject unhandled.
 */
function scanAhead(conn: DbConnection, ns: number, source: ScanSource, lsns: Float64Array, values: boolean): Promise<ArrayBuffer> {
  const chunk = conn.pool.scan(source, ns, lsns, values);
  chunk.catch(() => undefined);
  return chunk;
}
