import { RecordBuffer } from './core/record-buffer.js';
import type { DbConnection } from './core/types.js';
import type { ValueCodec } from './encodings.js';
import { EmdbError, ErrorCode } from './errors.js';
import { RecordKind } from './format/constants.js';
import { keyByteLength, type Key } from './keys.js';

/**
 * insertMany and removeMany send chunks of about this size, each one
 * crash-atomic. 1 MiB, not 4: a load of 1,000,000 records took as long
 * (2.48-2.70 s against 2.51-2.66 s), and the chunks in flight are buffers
 * the allocator keeps once freed: RSS after that load was 15 MiB lower.
 */
const BULK_CHUNK_BYTES = 1 << 20;
/** Chunks in flight to the writer at once: enough to overlap encoding and writing. */
const BULK_IN_FLIGHT = 3;
/** First buffer of a bulk call; it doubles as records are framed. */
const FIRST_CHUNK_BYTES = 64 << 10;

/** What one bulk call frames per item of its source, and what it asks of the writer. */
interface BulkJob<T> {
  /** The public method, for error messages. */
  name: 'insertMany' | 'removeMany';
  /** Validates `item` and frames its one record into `records` (inside the chunk's transaction). Throws to stop the call. */
  frame(records: RecordBuffer, item: T): void;
  /** Ask the writer for each record's prior existence (summed into `existed`). */
  existed: boolean;
}

/** How a bulk call ended: items framed and sent, and how many of their keys existed before (when asked). */
interface BulkResult {
  items: number;
  existed: number;
}

/**
 * What insertMany and removeMany take: a sync or async iterable object. A
 * string or a Uint8Array is iterable too, but is one key, not a source of them.
 */
export function isBulkSource(source: unknown): source is Iterable<unknown> | AsyncIterable<unknown> {
  return typeof source === 'object' && source !== null && !ArrayBuffer.isView(source) && (Symbol.iterator in source || Symbol.asyncIterator in source);
}

/**
 * The work of KeySpace.insertMany (src/keyspace.ts), after its options were
 * validated: entries framed straight into multi-megabyte chunks, each sent as
 * one crash-atomic message, every one with deadline `expiresAt`. Resolves with
 * the number of entries written.
 */
export async function insertChunked(
  conn: DbConnection,
  ns: number,
  codec: ValueCodec,
  entries: Iterable<readonly [Key, unknown]> | AsyncIterable<readonly [Key, unknown]>,
  expiresAt: number,
  assertLive: () => void,
): Promise<number> {
  const frame = (records: RecordBuffer, entry: unknown): void => {
    if (!Array.isArray(entry) || entry.length < 2) {
      throw new EmdbError(ErrorCode.INVALID_CONFIG, 'insertMany entries must be [key, value] pairs');
    }
    const key = entry[0] as Key;
    const keyLen = keyByteLength(key);
    records.append(RecordKind.PUT, ns, key, keyLen, codec.encode(entry[1]), expiresAt);
  };
  return (await writeChunked(conn, entries, { name: 'insertMany', frame, existed: false }, assertLive)).items;
}

/**
 * The work of KeySpace.removeMany: one tombstone per key, framed into chunks
 * as insertMany's entries are. Resolves with the number of keys that existed
 * (the writer's per-record answer: an expired key, or one removed earlier in
 * the same call, did not).
 */
export async function removeChunked(conn: DbConnection, ns: number, keys: Iterable<Key> | AsyncIterable<Key>, assertLive: () => void): Promise<number> {
  const frame = (records: RecordBuffer, key: Key): void => {
    const keyLen = keyByteLength(key);
    records.append(RecordKind.TOMBSTONE, ns, key, keyLen, null, 0);
  };
  return (await writeChunked(conn, keys, { name: 'removeMany', frame, existed: true }, assertLive)).existed;
}

/**
 * The chunk loop of both: items framed into a chunk until it passes
 * BULK_CHUNK_BYTES, each chunk one TX_BEGIN … TX_COMMIT write message,
 * BULK_IN_FLIGHT of them in flight. An item that fails validation stops the
 * call before its chunk is sent; a refused chunk stops it too. Either way the
 * call rejects with an error carrying `committed`: the items of the chunks the
 * writer applied before it stopped (withCommitted).
 */
async function writeChunked<T>(conn: DbConnection, items: Iterable<T> | AsyncIterable<T>, job: BulkJob<T>, assertLive: () => void): Promise<BulkResult> {
  // Every chunk's promise is observed here at once (it never rejects): when
  // the call stops early, chunks still in flight must not reject unhandled.
  const inFlight: Promise<void>[] = [];
  let committed = 0;
  let existed = 0;
  let failure: { error: unknown } | undefined;
  const chunkCapacity = BULK_CHUNK_BYTES + (64 << 10);
  // Starts small and doubles (RecordBuffer.ensure) up to a chunk: a call of a
  // thousand records must not map and fault in two whole-chunk buffers (a durable
  // batch of 1,000 spent more on that than on framing its records).
  const records = new RecordBuffer(FIRST_CHUNK_BYTES, chunkCapacity);
  const spare: ArrayBuffer[] = [];
  let count = 0;
  /** Items framed since the last chunk left (the chunk's record count also has its TX markers). */
  let unsent = 0;
  const sendChunk = async (): Promise<void> => {
    // A chunk not yet sent when the database closes is not sent (ERR_EMDB_CLOSED).
    assertLive();
    records.commitTx();
    // The next buffer: one the writer handed back, or one sized to this chunk (take's default).
    const full = records.len >= BULK_CHUNK_BYTES;
    const { payload, bytes, count: n } = records.take(spare.pop() ?? (full ? chunkCapacity : undefined));
    const itemsInChunk = unsent;
    unsent = 0;
    const sent = conn.link.call({ t: 'write', count: n, bytes, existed: job.existed }, payload);
    inFlight.push(
      sent.then(
        (done) => {
          committed += itemsInChunk;
          // One byte per record, TX markers included (always 0): the sum is the keys that existed.
          if (done.existed) for (const had of done.existed) existed += had;
          if (done.payload && done.payload.byteLength >= chunkCapacity) spare.push(done.payload);
        },
        (error: unknown) => void (failure ??= { error }),
      ),
    );
    if (inFlight.length >= BULK_IN_FLIGHT) await inFlight.shift();
    if (failure) throw failure.error;
  };
  const add = (item: T): boolean => {
    // Framed at once: a record of a valid item is in the chunk only after its validation passed.
    if (!records.inTx) records.beginTx();
    job.frame(records, item);
    count++;
    unsent++;
    return records.len >= BULK_CHUNK_BYTES;
  };
  try {
    // A sync iterable is walked synchronously: `for await` would cost a promise per item.
    if (Symbol.iterator in items) {
      for (const item of items) if (add(item)) await sendChunk();
    } else {
      for await (const item of items) if (add(item)) await sendChunk();
    }
    if (records.inTx) await sendChunk();
    await Promise.all(inFlight);
    if (failure) throw failure.error;
  } catch (err) {
    // Settle what was sent before answering, so `committed` is final.
    await Promise.all(inFlight);
    throw withCommitted(err, committed, job.name);
  }
  return { items: count, existed };
}

/**
 * A bulk call's failure that says how many of its items were committed before
 * it (chunks the writer applied). A new error: the one passed in may be the
 * link's shared failure, rejected to every later request.
 */
function withCommitted(err: unknown, committed: number, name: string): unknown {
  if (!(err instanceof EmdbError)) {
    // The caller's own failure (its entries' iterator threw): passed through as it is, with `committed`
    // added, since the chunks before it were written. A frozen or primitive value is passed through bare.
    if (typeof err === 'object' && err !== null) {
      try {
        Object.defineProperty(err, 'committed', { value: committed, enumerable: true, configurable: true, writable: true });
      } catch {
        // not extensible: nothing to add it to
      }
    }
    return err;
  }
  const cause: unknown = err.cause ?? err;
  const out = new EmdbError(err.code, `${name} stopped after committing ${committed} entries: ${err.message}`, {
    cause,
    committed,
    ...(err.offset === undefined ? {} : { offset: err.offset }),
  });
  return out;
}
