/**
 * Encoding of writer messages (protocol.ts): a msgpackr header in an exclusive
 * buffer, plus the side-cars that travel beside it.
 */
// The pure-JS build: messages are small, and the native extractor costs ~14 ms to load per thread.
import { Packr } from 'msgpackr/pack';
import type { BufferSet, Envelope, WriterReply, WriterRequest } from './protocol.js';

const packr = new Packr({ useRecords: false, moreTypes: false });

/**
 * Packs a message. msgpackr returns a view into its reusable buffer, so the bytes
 * are copied into an exclusive buffer that is safe to transfer.
 */
export function pack(msg: WriterRequest | WriterReply): Uint8Array {
  const view = packr.pack(msg);
  const out = new Uint8Array(view.length);
  out.set(view);
  return out;
}

export function unpack<T extends WriterRequest | WriterReply>(bytes: Uint8Array): T {
  return packr.unpack(bytes) as T;
}

export function envelope(
  msg: WriterRequest | WriterReply,
  payload?: ArrayBuffer,
  shared?: BufferSet,
): { env: Envelope; transfer: ArrayBuffer[] } {
  const m = pack(msg);
  const env: Envelope = { m };
  const transfer: ArrayBuffer[] = [m.buffer as ArrayBuffer];
  if (payload) {
    env.payload = payload;
    transfer.push(payload);
  }
  if (shared) env.shared = shared;
  return { env, transfer };
}

/** The fields of `fields` that are set: msgpack would carry undefined ones as nil. */
export function definedOnly<T extends object>(fields: T): Partial<T> {
  const out: Partial<T> = {};
  for (const k of Object.keys(fields) as (keyof T)[]) if (fields[k] !== undefined) out[k] = fields[k];
  return out;
}
