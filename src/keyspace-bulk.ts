import { RecordBuffer } from './core/record-buffer.js';
import type { DbConnection } from './core/types.js';
import type { ValueCodec } from './encodings.js';
import { EmdbError, ErrorCode } from './errors.js';
import { RecordKind } from './format/constants.js';
import { keyByteLength, type Key } from './keys.js';

/** insertMany sends chunks of about this size, each one crash-atomic. */
const BULK_CHUNK_BYTES = 4 << 20;
/** Chunks in flight to the writer at once: enough to overlap encoding and writing. */
const BULK_IN_FLIGHT = 3;

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
  // Every chunk's promise is observed here at once (it never rejects): when
  // insertMany stops early, chunks still in flight must not reject unhandled.
  const inFlight: Promise<void>[] = [];
  let committed = 0;
  let failure: { error: unknown } | undefined;
  const chunkCapacity = BULK_CHUNK_BYTES + (64 << 10);
  const records = new RecordBuffer(chunkCapacity);
  const spare: ArrayBuffer[] = [];
  let count = 0;
  /** Entries framed since the last chunk left (the chunk's record count also has its TX markers). */
  let unsent = 0;
  const sendChunk = async (): Promise<void> => {
    // A chunk not yet sent when the database closes is not sent (ERR_EMDB_CLOSED).
    assertLive();
    records.commitTx();
    const { payload, bytes, count: n } = records.take(spare.pop() ?? chunkCapacity);
    const entriesInChunk = unsent;
    unsent = 0;
    const sent = conn.link.call({ t: 'write', count: n, bytes, existed: false }, payload);
    inFlight.push(
      sent.then(
        (done) => {
          committed += entriesInChunk;
          if (done.payload && done.payload.byteLength >= chunkCapacity) spare.push(done.payload);
        },
        (error: unknown) => void (failure ??= { error }),
      ),
    );
    if (inFlight.length >= BULK_IN_FLIGHT) await inFlight.shift();
    if (failure) throw failure.error;
  };
  const add = (entry: unknown): boolean => {
    if (!Array.isArray(entry) || entry.length < 2) {
      throw new EmdbError(ErrorCode.INVALID_CONFIG, 'insertMany entries must be [key, value] pairs');
    }
    const key = entry[0] as Key;
    const keyLen = keyByteLength(key);
    const encoded = codec.encode(entry[1]);
    if (!records.inTx) records.beginTx();
    records.append(RecordKind.PUT, ns, key, keyLen, encoded, expiresAt);
    count++;
    unsent++;
    return records.len >= BULK_CHUNK_BYTES;
  };
  try {
    // A sync iterable is walked synchronously: `for await` would cost a promise per entry.
    if (Symbol.iterator in entries) {
      for (const entry of entries) if (add(entry)) await sendChunk();
    } else {
      for await (const entry of entries) if (add(entry)) await sendChunk();
    }
    if (records.inTx) await sendChunk();
    await Promise.all(inFlight);
    if (failure) throw failure.error;
  } catch (err) {
    // Settle what was sent before answering, so `committed` is final.
    await Promise.all(inFlight);
    throw withCommitted(err, committed);
  }
  return count;
}

/**
 * An insertMany failure that says how many entries were committed before it
 * (chunks the writer applied). A new error: the one passed in may be the link's
 * shared failure, rejected to every later request.
 */
function withCommitted(err: unknown, committed: number): unknown {
  if (!(err instanceof EmdbError)) return err;
  const cause: unknown = err.cause ?? err;
  const out = new EmdbError(err.code, `insertMany stopped after committing ${committed} entries: ${err.message}`, {
    cause,
    committed,
    ...(err.offset === undefined ? {} : { offset: err.offset }),
  });
  return out;
}
