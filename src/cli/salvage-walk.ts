/**
 * `emdb-js dump --salvage`: what still reads in a damaged log, without opening
 * (or locking, or changing) it. The walk is verify's (verify-walk.ts: every
 * record's framing and CRC), but instead of stopping at the first damage it
 * skips the damaged bytes and resynchronises on the next record whose magic,
 * fields and CRC all pass, and applies what it reads with the log's own
 * semantics (src/log/log-state.ts): the last write of a key wins, tombstones,
 * CLEAR and PREFIX_DELETE remove, NS_DROP drops a namespace and its keys, and a
 * transaction counts only when its begin, every body record and its commit
 * read whole. Everything it skips is reported with its offset and why, and,
 * when a skipped record's header still parses, the kind it claims (untrusted):
 * a skipped removal means what it removed is back in the dump.
 *
 * Header damage is reported, not fatal: a prelude that fails its checksum is
 * read leniently (refused only when it claims encryption), a header slot that
 * fails its check is listed, and the tail hint of the slot open would use
 * says whether the file ends short of its checkpointed log.
 *
 * The result is held in memory (a damaged log has no index to stream from),
 * so salvage needs memory for the live data. Plaintext files only: an
 * encrypted file's records cannot be read without opening it.
 */
import fs from 'node:fs';
import { DATA_START, PRELUDE_SIZE, RECORD, RECORD_FLAG_BATCH_SEALED, RECORD_FLAG_ENCRYPTED, RECORD_FLAG_IN_TX, RECORD_HEADER_SIZE, RecordKind, MAX_RECORD_KIND, SLOT_A_OFFSET, SLOT_B_OFFSET, SLOT_SIZE, TX_BEGIN_VALUE_SIZE, TX_COMMIT_VALUE_SIZE } from '../format/constants.js';
import { RECORD_MAGIC_BYTES as MAGIC_BYTES } from '../format/damage-scan.js';
import { decodePreludeLeniently, encodingNameOf, inspectSlots, isEncrypted } from '../format/header.js';
import { checkRecord, claimedRecordHeader, faultName, frameSize, nsCreateEncoding } from '../format/record.js';
import { keyOffsetIn, recordExpiresAt } from '../format/record-fields.js';
import type { ValueEncoding } from '../index.js';
import { usageError } from './exit.js';
import { readHeaderArea, Window } from './read-window.js';

export interface SalvagedEntry {
  v: Buffer;
  /** Deadline, epoch ms; 0: none. */
  x: number;
}

/** A namespace as salvaged: keys as binary ('latin1') strings, so one Map holds them. */
export interface SalvagedSpace {
  name: string | undefined;
  encoding: ValueEncoding | undefined;
  entries: Map<string, SalvagedEntry>;
}

export interface Skipped {
  offset: number;
  bytes: number;
  reason: string;
  /**
   * What the record at `offset` claims to be when its header still parses
   * ('write', 'removal', 'namespace drop', 'clear', 'prefix delete', ...):
   * untrusted when the record is damaged (its CRC failed).
   */
  looksLike?: string;
  /** The namespace that header names (its name when known, else `#<id>`); absent for the default one. */
  namespace?: string;
}

export interface SalvageResult {
  fileBytes: number;
  /** Records read whole and applied (transactions: their body records). */
  records: number;
  /** The default namespace first, then the named ones in creation order. */
  spaces: SalvagedSpace[];
  skipped: Skipped[];
  /**
   * Set when a skipped range may have held records that removed or replaced
   * data (any skip in the log but a zero-filled end of file): that data may
   * be back in the dump.
   */
  warning: string | undefined;
}

/** What a record kind does, as a skipped range reports it. */
const KIND_LABEL: Record<number, string> = {
  [RecordKind.PUT]: 'write',
  [RecordKind.TOMBSTONE]: 'removal',
  [RecordKind.TX_BEGIN]: 'transaction begin',
  [RecordKind.TX_COMMIT]: 'transaction commit',
  [RecordKind.NS_CREATE]: 'namespace creation',
  [RecordKind.NS_DROP]: 'namespace drop',
  [RecordKind.CLEAR]: 'clear',
  [RecordKind.DURABLE_MARK]: 'durable mark',
  [RecordKind.PREFIX_DELETE]: 'prefix delete',
};
/** Kinds that take data away: skipping one brings that data back. */
const REMOVING = new Set<number>([RecordKind.TOMBSTONE, RecordKind.NS_DROP, RecordKind.CLEAR, RecordKind.PREFIX_DELETE]);
const ZERO_TAIL = 'zero-filled tail (preallocated space or crash residue)';

/** A record read whole, copied out of the window: a transaction's body waits for its commit. */
interface Rec {
  /** The whole record; key and value are views into it. */
  raw: Buffer;
  lsn: number;
  len: number;
  kind: number;
  ns: number;
  key: Buffer;
  value: Buffer;
  x: number;
}

export function salvageLog(path: string, onProgress: (offset: number) => void): SalvageResult {
  const fd = fs.openSync(path, 'r');
  try {
    const fileBytes = fs.fstatSync(fd).size;
    const header = readHeaderArea(fd, path);
    const { prelude, damage } = decodePreludeLeniently(header);
    if (isEncrypted(prelude)) {
      throw usageError(`dump --salvage reads plaintext databases only: an encrypted file's records cannot be read without opening it${damage ? ` (the ${damage}, and it claims encryption)` : ''}`);
    }
    const skipped: Skipped[] = [];
    const skip = (offset: number, bytes: number, reason: string, claim?: { looksLike: string; namespace?: string }): void => void skipped.push({ offset, bytes, reason, ...claim });
    // A damaged prelude's value encoding is believed only when it is one we know; values read as binary otherwise.
    let encoding = encodingNameOf(prelude.valueEncoding);
    if (damage) {
      if (encoding === undefined) encoding = 'binary';
      skip(0, PRELUDE_SIZE, `${damage}: read leniently (not encrypted; value encoding ${encoding}, untrusted)`);
    }
    const tailHint = readTailHint(header, prelude.version, skip);
    const w = new Window(fd, fileBytes);
    const spaces = new Map<number, SalvagedSpace>([[0, { name: undefined, encoding, entries: new Map() }]]);
    /** Ids some NS_DROP dropped: later records under them were never data (log-state.ts). */
    const dropped = new Set<number>();
    let records = 0;
    let tx: { lsn: number; id: number; count: number; body: Rec[] } | undefined;
    const nsName = (ns: number): string | undefined => (ns === 0 ? undefined : (spaces.get(ns)?.name ?? `#${ns}`));
    const dropTx = (why: string): void => {
      if (!tx) return;
      const last = tx.body.at(-1);
      const removals = tx.body.filter((r) => REMOVING.has(r.kind)).length;
      skip(tx.lsn, (last ? last.lsn + last.len : tx.lsn) - tx.lsn, `transaction dropped: ${why} (${tx.body.length} of its ${tx.count} records read${removals ? `, ${removals} of them removals` : ''})`, { looksLike: removals ? 'transaction with removals' : 'transaction' });
      tx = undefined;
    };
    /** What the header at `lsn` claims, for a record skipped whole (read) or damaged (untrusted). */
    const claimAt = (lsn: number): { looksLike: string; namespace?: string } | undefined => {
      const at = w.ensure(lsn, RECORD_HEADER_SIZE);
      const h = claimedRecordHeader(w.dv, at, w.end - w.start);
      if (!h) return undefined;
      const namespace = nsName(h.namespace);
      return { looksLike: KIND_LABEL[h.kind] ?? `kind ${h.kind}`, ...(namespace === undefined ? {} : { namespace }) };
    };
    const space = (ns: number): SalvagedSpace => {
      let s = spaces.get(ns);
      if (!s) spaces.set(ns, (s = { name: `salvaged-namespace-${ns}`, encoding: undefined, entries: new Map() }));
      return s;
    };
    const apply = (r: Rec): void => {
      records++;
      // A record under a dropped id was never data; under an id whose NS_CREATE was lost, it is kept under a made-up name.
      if (r.ns !== 0 && dropped.has(r.ns) && r.kind !== RecordKind.NS_CREATE) return;
      const key = r.key.toString('latin1');
      switch (r.kind) {
        case RecordKind.PUT:
          space(r.ns).entries.set(key, { v: r.value, x: r.x });
          return;
        case RecordKind.TOMBSTONE:
          spaces.get(r.ns)?.entries.delete(key);
          return;
        case RecordKind.CLEAR:
          spaces.get(r.ns)?.entries.clear();
          return;
        case RecordKind.PREFIX_DELETE: {
          const entries = spaces.get(r.ns)?.entries;
          for (const k of entries?.keys() ?? []) if (k.startsWith(key)) entries!.delete(k);
          return;
        }
        case RecordKind.NS_CREATE: {
          const name = r.key.toString('utf8');
          const encoding = encodingNameOf(nsCreateEncoding(new DataView(r.raw.buffer, r.raw.byteOffset, r.raw.length), 0));
          const s = spaces.get(r.ns);
          // Records before it under this id belonged to no namespace (log-state.ts ignores them).
          spaces.set(r.ns, { name, encoding, entries: s?.name === name ? s.entries : new Map() });
          dropped.delete(r.ns);
          return;
        }
        case RecordKind.NS_DROP:
          spaces.delete(r.ns);
          dropped.add(r.ns);
          return;
        default:
          // DURABLE_MARK: framing only.
          return;
      }
    };

    let lsn = DATA_START;
    while (lsn < fileBytes) {
      let at = w.ensure(lsn, RECORD_HEADER_SIZE);
      let len = w.checkFrame(at, MAX_RECORD_KIND);
      if (len > 0) {
        at = w.ensure(lsn, frameSize(w.dv, at));
        len = checkRecord(w.buf, w.dv, at, w.end - w.start, true, MAX_RECORD_KIND);
      }
      const flags = len > 0 ? w.buf[at + RECORD.FLAGS]! : 0;
      if (len > 0 && (flags & (RECORD_FLAG_ENCRYPTED | RECORD_FLAG_BATCH_SEALED)) !== 0) len = -100;
      if (len < 0) {
        dropTx('a record inside it is damaged');
        const claim = claimAt(lsn);
        const next = resync(w, lsn + 1, fileBytes);
        skip(lsn, next.at - lsn, len === -100 ? 'sealed record in a plaintext file' : next.zeros ? ZERO_TAIL : faultName(len), claim);
        lsn = next.at;
        onProgress(lsn);
        continue;
      }
      const rec = readRec(w, at, lsn, len);
      const inTx = (flags & RECORD_FLAG_IN_TX) !== 0;
      if (rec.kind === RecordKind.TX_BEGIN) {
        dropTx('a second transaction begins before its commit');
        if (rec.value.length === TX_BEGIN_VALUE_SIZE) tx = { lsn, id: rec.value.readUInt32LE(0), count: rec.value.readUInt32LE(4), body: [] };
        else skip(lsn, len, 'malformed transaction begin', { looksLike: 'transaction begin' });
      } else if (rec.kind === RecordKind.TX_COMMIT) {
        const whole = tx && rec.value.length === TX_COMMIT_VALUE_SIZE && rec.value.readUInt32LE(0) === tx.id && rec.value.readUInt32LE(4) === tx.count && tx.body.length === tx.count;
        if (whole) {
          for (const r of tx!.body) apply(r);
          tx = undefined;
        } else if (tx) {
          tx.body.push(rec);
          dropTx('its commit does not match its begin');
        } else {
          skip(lsn, len, 'commit record without a begin', { looksLike: 'transaction commit' });
        }
      } else if (inTx) {
        if (tx && tx.body.length < tx.count) tx.body.push(rec);
        else {
          dropTx('its body is longer than its begin says');
          // The rest of a transaction whose begin was lost: never applied alone.
          skip(lsn, len, 'transaction record whose begin is damaged or missing', claimAt(lsn));
        }
      } else {
        dropTx('a record outside it comes before its commit');
        apply(rec);
      }
      lsn += len;
      onProgress(lsn);
    }
    dropTx('the log ends before its commit');
    if (tailHint !== undefined && tailHint > fileBytes) {
      // Open refuses such a file: those bytes were checkpointed (durable) records, and they are gone.
      skip(fileBytes, tailHint - fileBytes, `missing: the file ends at ${fileBytes}, before its checkpointed tail (${tailHint}); the file was cut short and the records there are lost`);
    }
    // Adjacent skips of one run (a transaction's records after its lost begin) read better as one.
    const merged: Skipped[] = [];
    for (const s of skipped) {
      const prev = merged.at(-1);
      if (prev && prev.offset + prev.bytes === s.offset && prev.reason === s.reason && prev.looksLike === s.looksLike && prev.namespace === s.namespace) prev.bytes += s.bytes;
      else merged.push({ ...s });
    }
    return { fileBytes, records, spaces: [...spaces.values()], skipped: merged, warning: resurrectionWarning(merged, fileBytes) };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The tail hint of the header slot open would use; a slot that fails its
 * check is reported through `skip` (a torn checkpoint write, or damage), and
 * with both failing there is no tail hint to compare the file's size with.
 */
function readTailHint(header: Uint8Array, version: number, skip: (offset: number, bytes: number, reason: string) => void): number | undefined {
  const bad = (status: string): boolean => status !== 'ok' && status !== 'empty';
  let slots;
  try {
    slots = inspectSlots(header, version);
  } catch {
    skip(SLOT_A_OFFSET, SLOT_B_OFFSET + SLOT_SIZE - SLOT_A_OFFSET, 'both header slots fail their checksum: no checkpointed tail is known (the walk reads every record anyway)');
    return undefined;
  }
  const used = slots.chosen.offset === SLOT_A_OFFSET ? 'A' : 'B';
  const why = (name: string): string => `header slot ${name} fails its checksum (a torn checkpoint write, or damage); slot ${used}'s tail hint was used, as open does`;
  if (bad(slots.a)) skip(SLOT_A_OFFSET, SLOT_SIZE, why('A'));
  if (bad(slots.b)) skip(SLOT_B_OFFSET, SLOT_SIZE, why('B'));
  return slots.chosen.tailHint;
}

/**
 * The warning a salvage with skipped log bytes carries: a skipped record may
 * have removed or replaced data, which then comes back. A zero-filled end of
 * the file (preallocation, or unsynced appends a crash lost) is what open
 * cuts too, so it brings nothing back that open would not.
 */
function resurrectionWarning(skipped: Skipped[], fileBytes: number): string | undefined {
  const inLog = skipped.filter((s) => s.offset >= DATA_START && !(s.reason === ZERO_TAIL && s.offset + s.bytes === fileBytes));
  if (inLog.length === 0) return undefined;
  const removals = inLog.filter((s) => s.looksLike !== undefined && ['removal', 'namespace drop', 'clear', 'prefix delete', 'transaction with removals'].includes(s.looksLike));
  return (
    'data that the skipped records removed or replaced may be back in the dump: a key whose newest write or removal was skipped comes back as its last readable write, ' +
    'and keys of a namespace drop, clear or prefix delete that was skipped come back' +
    (removals.length ? ` (${removals.length} skipped range${removals.length === 1 ? '' : 's'} look${removals.length === 1 ? 's' : ''} like ${[...new Set(removals.map((s) => s.looksLike))].join(', ')}: at offset ${removals.map((s) => s.offset).join(', ')})` : '') +
    '; review the skipped list before trusting the result'
  );
}

/** Copies the record at `at` (window offset) out of the window. */
function readRec(w: Window, at: number, lsn: number, len: number): Rec {
  const flags = w.buf[at + RECORD.FLAGS]!;
  const keyLen = w.dv.getUint32(at + RECORD.KEY_LEN, true);
  const valueLen = w.dv.getUint32(at + RECORD.VALUE_LEN, true);
  const k = at + keyOffsetIn(flags);
  // One copy holding header, key and value: NS_CREATE's encoding is read from it with the format's own reader.
  const copy = Buffer.from(w.buf.subarray(at, at + len));
  const kOff = k - at;
  return {
    raw: copy,
    lsn,
    len,
    kind: copy[RECORD.KIND]!,
    ns: copy.readUInt32LE(RECORD.NAMESPACE),
    key: copy.subarray(kOff, kOff + keyLen),
    value: copy.subarray(kOff + keyLen, kOff + keyLen + valueLen),
    x: recordExpiresAt(new DataView(copy.buffer, copy.byteOffset, copy.byteLength), 0),
  };
}

/**
 * The offset of the next record at or after `from` whose magic, fields and CRC
 * all pass (a chance match of all three inside damaged bytes is one in 2^32
 * after a magic match), or the file end; `zeros` when every byte skipped is 0.
 */
function resync(w: Window, from: number, fileBytes: number): { at: number; zeros: boolean } {
  let zeros = true;
  let pos = from;
  while (pos < fileBytes) {
    const off = w.ensure(pos, RECORD_HEADER_SIZE);
    const avail = w.end - w.start;
    const hit = w.buf.subarray(0, avail).indexOf(MAGIC_BYTES, off);
    const scannedTo = hit < 0 ? Math.max(off + 1, avail - (MAGIC_BYTES.length - 1)) : hit;
    if (zeros && w.buf.subarray(off, scannedTo).some((b) => b !== 0)) zeros = false;
    if (hit < 0) {
      pos = w.start + scannedTo;
      // A window that ends at the file's end holds no record beyond it.
      if (w.end >= fileBytes) break;
      continue;
    }
    const at = w.start + hit;
    const check = w.ensure(at, RECORD_HEADER_SIZE);
    let len = w.checkFrame(check, MAX_RECORD_KIND);
    if (len > 0) {
      const full = w.ensure(at, frameSize(w.dv, check));
      len = checkRecord(w.buf, w.dv, full, w.end - w.start, true, MAX_RECORD_KIND);
    }
    if (len > 0) return { at, zeros: false };
    zeros = false;
    pos = at + 1;
  }
  if (zeros && pos < fileBytes) zeros = w.buf.subarray(w.ensure(pos, fileBytes - pos), w.end - w.start).every((b) => b === 0);
  return { at: fileBytes, zeros };
}
