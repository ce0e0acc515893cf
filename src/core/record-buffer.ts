import { RECORD_FLAG_IN_TX, RECORD_HEADER_SIZE, RecordKind, TX_BEGIN_VALUE_SIZE, TX_COMMIT_VALUE_SIZE, type RecordKindValue } from '../format/constants.js';
import { sealRecord } from '../format/record.js';
import { checkValueLength, writeKey, type Key } from '../keys.js';

const MIN_CAPACITY = 4096;

/**
 * Producer-side encoder: frames and CRC-seals records straight into one buffer
 * that is later transferred (not copied) to the writer. The buffer is always its
 * own ArrayBuffer (never Node's shared pool), so transferring it detaches nothing else.
 */
export class RecordBuffer {
  buf: Buffer;
  /** Plain view of the same bytes: Buffer#subarray allocates a FastBuffer per call, this does not. */
  u8: Uint8Array;
  dv: DataView;
  len = 0;
  /** Records in the buffer, including transaction framing records. */
  count = 0;
  private txBegin = -1;
  private txCount = 0;
  private static txIds = (Math.random() * 0xffffffff) >>> 0;

  /**
   * `growTo`: doubling stops there (a bulk chunk's size, so a chunk that starts
   * small never ends in a buffer twice its size); a record that needs more still gets it.
   */
  constructor(
    capacity = MIN_CAPACITY,
    private readonly growTo = Infinity,
  ) {
    this.buf = Buffer.allocUnsafeSlow(Math.max(capacity, MIN_CAPACITY));
    this.u8 = new Uint8Array(this.buf.buffer, 0, this.buf.length);
    this.dv = new DataView(this.buf.buffer, 0, this.buf.length);
  }

  /**
   * Appends one record; `key`/`value` were validated by the caller. Returns the
   * record's position in the batch (its index in the writer's `existed` reply).
   */
  append(kind: RecordKindValue, namespace: number, key: Key | null, keyLen: number, value: string | Uint8Array | null, expiresAt: number): number {
    let valueMax = 0;
    if (typeof value === 'string') {
      valueMax = value.length * 3;
      if (valueMax > 0x4000000) {
        valueMax = Buffer.byteLength(value, 'utf8');
        checkValueLength(valueMax);
      }
    } else if (value) {
      checkValueLength(value.length);
      valueMax = value.length;
    }
    this.ensure(RECORD_HEADER_SIZE + keyLen + valueMax);
    const off = this.len;
    const keyOff = off + RECORD_HEADER_SIZE;
    if (key !== null) writeKey(this.buf, keyOff, key, keyLen);
    let valueLen = 0;
    if (typeof value === 'string') {
      valueLen = this.buf.write(value, keyOff + keyLen, 'utf8');
      checkValueLength(valueLen);
    } else if (value) {
      this.buf.set(value, keyOff + keyLen);
      valueLen = value.length;
    }
    const flags = this.txBegin >= 0 ? RECORD_FLAG_IN_TX : 0;
    this.len += sealRecord(this.u8, this.dv, off, kind, flags, namespace, keyLen, valueLen, expiresAt);
    if (this.txBegin >= 0) this.txCount++;
    return this.count++;
  }

  /** Starts a crash-atomic group: recovery keeps its records only if the commit lands. */
  beginTx(): void {
    this.ensure(RECORD_HEADER_SIZE + TX_BEGIN_VALUE_SIZE);
    this.txBegin = this.len;
    this.txCount = 0;
    // Placeholder; sealed with the real counts in commitTx.
    this.len += RECORD_HEADER_SIZE + TX_BEGIN_VALUE_SIZE;
    this.count++;
  }

  commitTx(): void {
    if (this.txBegin < 0) return;
    const begin = this.txBegin;
    const bodyStart = begin + RECORD_HEADER_SIZE + TX_BEGIN_VALUE_SIZE;
    const txId = (RecordBuffer.txIds = (RecordBuffer.txIds + 1) >>> 0);
    const v = begin + RECORD_HEADER_SIZE;
    this.dv.setUint32(v, txId, true);
    this.dv.setUint32(v + 4, this.txCount, true);
    this.dv.setUint32(v + 8, this.len - bodyStart, true);
    this.dv.setUint32(v + 12, 0, true);
    sealRecord(this.u8, this.dv, begin, RecordKind.TX_BEGIN, 0, 0, 0, TX_BEGIN_VALUE_SIZE, 0);
    this.txBegin = -1;
    this.ensure(RECORD_HEADER_SIZE + TX_COMMIT_VALUE_SIZE);
    const c = this.len + RECORD_HEADER_SIZE;
    this.dv.setUint32(c, txId, true);
    this.dv.setUint32(c + 4, this.txCount, true);
    this.len += sealRecord(this.u8, this.dv, this.len, RecordKind.TX_COMMIT, 0, 0, 0, TX_COMMIT_VALUE_SIZE, 0);
    this.count++;
  }

  get inTx(): boolean {
    return this.txBegin >= 0;
  }

  /**
   * Hands the bytes over (for transfer) and leaves this buffer empty with a fresh
   * allocation of `nextCapacity` (default: sized to what this batch needed).
   */
  take(next?: number | ArrayBuffer): { payload: ArrayBuffer; bytes: number; count: number } {
    const out = { payload: this.buf.buffer as ArrayBuffer, bytes: this.len, count: this.count };
    // A recycled buffer (handed back by the writer) has its pages mapped already;
    // a fresh multi-megabyte allocation page-faults on first touch.
    this.replace(
      next instanceof ArrayBuffer
        ? Buffer.from(next)
        : Buffer.allocUnsafeSlow(next ?? Math.min(Math.max(MIN_CAPACITY, 2 ** Math.ceil(Math.log2(this.len + 1))), 1 << 20)),
    );
    this.len = 0;
    this.count = 0;
    return out;
  }

  private ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(Math.min(this.buf.length * 2, this.growTo), this.len + extra));
    this.buf.copy(grown, 0, 0, this.len);
    this.replace(grown);
  }

  private replace(buf: Buffer): void {
    this.buf = buf;
    this.u8 = new Uint8Array(buf.buffer, 0, buf.length);
    this.dv = new DataView(buf.buffer, 0, buf.length);
  }
}
