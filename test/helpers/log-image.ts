/**
 * Helpers for tests that take a database file apart byte by byte. The layout
 * constants are written out from docs/FORMAT.md on purpose (not imported from
 * src/format), so a drift between the spec and the code fails these tests.
 */
import { nodeFileIO } from '../../dist/src/log/file-io.js';
import { createControlBlock } from '../../dist/src/shm/shared-view.js';
import { WriterEngine } from '../../dist/src/writer/engine.js';
import { trackedFileIO } from '../../dist/test/helpers/tracked-io.js';

export { rng } from './rng.js';

// docs/FORMAT.md, format version 2 (the offsets of version 1 are unchanged)
export const DATA_START = 12288;
export const RECORD_MAGIC = 0x52444d45;
export const HEADER = 32;
export const SLOT_A = 4096;
export const SLOT_B = 8192;
export const SLOT_MAGIC = 0x544c5348;
export const Kind = { PUT: 1, TOMBSTONE: 2, TX_BEGIN: 3, TX_COMMIT: 4 } as const;
/** Prelude fields. */
export const PRELUDE_VERSION = 8;
export const PRELUDE_FILE_ID = 120;
export const PRELUDE_CRC = 252;
/** Header slot fields (offsets inside a slot). */
export const SLOT_SEQUENCE = 8;
export const SLOT_TAIL_HINT = 16;
export const SLOT_FLAGS = 40;
export const SLOT_PREFIX_CRC = 44;
export const SLOT_CRC = 60;
export const SLOT_FLAG_PREFIX_CRC = 1;
/** Index snapshot sidecar `<path>.index`: header fields. */
export const SNAPSHOT_FILE_ID = 16;
export const SNAPSHOT_TAIL = 32;
export const SNAPSHOT_PREFIX_CRC = 40;
export const SNAPSHOT_HEADER_CRC = 124;
export const SNAPSHOT_HEADER_SIZE = 128;

export interface Rec {
  start: number;
  end: number;
  kind: number;
  keyLen: number;
  /** Start of the enclosing transaction (its TX_BEGIN), when inside one. */
  tx: number | undefined;
}

/** Walks the record headers (magic, lengths) from DATA_START; stops at the first thing that is not a whole record. */
export function walkRecords(buf: Buffer): { records: Rec[]; end: number } {
  const records: Rec[] = [];
  let at = DATA_START;
  let tx: number | undefined;
  while (at + HEADER <= buf.length && buf.readUInt32LE(at) === RECORD_MAGIC) {
    const keyLen = buf.readUInt32LE(at + 16);
    const end = at + HEADER + keyLen + buf.readUInt32LE(at + 20);
    if (end > buf.length) break;
    const kind = buf[at + 8]!;
    if (kind === Kind.TX_BEGIN) tx = at;
    records.push({ start: at, end, kind, keyLen, tx });
    if (kind === Kind.TX_COMMIT) tx = undefined;
    at = end;
  }
  return { records, end: at };
}

/** Tail hint of the valid header slot with the highest sequence. */
export function activeTailHint(buf: Buffer): number {
  let best: { seq: bigint; tail: number } | undefined;
  for (const off of [SLOT_A, SLOT_B]) {
    if (buf.readUInt32LE(off) !== SLOT_MAGIC) continue;
    const seq = buf.readBigUInt64LE(off + 8);
    if (!best || seq > best.seq) best = { seq, tail: Number(buf.readBigUInt64LE(off + 16)) };
  }
  if (!best) throw new Error('no header slot');
  return best.tail;
}

/** Runs `fn` over `items` with at most `width` in flight. */
export async function pool<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/**
 * Runs the writer's open (header, slot choice, recovery walk, residue truncation)
 * on this thread, hands the engine to `fn`, and closes every descriptor it opened,
 * also when open throws. Thousands of cases fit in a test this way; a worker
 * start per case would not.
 */
export function withInProcessEngine<T>(file: string, fn: (engine: WriterEngine) => T): T {
  const fds = new Set<number>();
  const io = trackedFileIO(fds);
  const engine = new WriterEngine({ path: file, flushPolicy: { kind: 'onEachFlush' }, io, control: createControlBlock(), publish: () => undefined });
  try {
    engine.open();
    return fn(engine);
  } finally {
    for (const fd of fds) nodeFileIO.close(fd);
  }
}
