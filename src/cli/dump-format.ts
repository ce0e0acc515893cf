/**
 * The dump file formats (README, "Command line"). Both are a stream of records:
 *
 *   header  { emdbDump: 1, format, tool, toolVersion, createdAt, namespaces, records, valueEncodings? }
 *           valueEncodings: { '': database's, name: namespace's } as recorded (values are the stored bytes)
 *   entry   { ns?, k, v, x? }   ns: namespace name (absent: default namespace);
 *                               k, v: key and value bytes; x: expiry, epoch ms
 *   trailer { end: true, records }
 *
 * ndjson: one JSON object per line, k and v in base64. msgpack: the same
 * objects msgpackr-encoded back to back, k and v as binary. A stream without
 * its trailer was cut short, and load says so.
 */
import { StringDecoder } from 'node:string_decoder';
import { Packr, UnpackrStream } from 'msgpackr';
import { Readable } from 'node:stream';
import { ENCODING_ID } from '../format/constants.js';
import type { ValueEncoding } from '../index.js';
import { usageError } from './context.js';

export const DUMP_VERSION = 1;
const VALUE_ENCODINGS = Object.keys(ENCODING_ID) as ValueEncoding[];
export type DumpFormat = 'ndjson' | 'msgpack';

export interface DumpHeader {
  emdbDump: number;
  format: DumpFormat;
  tool: string;
  toolVersion: string;
  createdAt: string;
  namespaces: string[];
  /** Live records when the dump started (progress total; the trailer has the exact count). */
  records: number;
  /** Value encodings recorded by the source: '' for the database, else the namespace's name; absent where none was recorded. */
  valueEncodings?: Record<string, ValueEncoding>;
}

export interface DumpEntry {
  ns: string | undefined;
  k: Buffer;
  v: Buffer;
  x: number | undefined;
}

export type DumpItem = { kind: 'header'; header: DumpHeader } | { kind: 'entry'; entry: DumpEntry } | { kind: 'end'; records: number };

// useRecords false: plain maps, readable by any msgpack decoder.
const packr = new Packr({ useRecords: false, moreTypes: false });

export function encodeHeader(h: DumpHeader): string | Buffer {
  return h.format === 'ndjson' ? `${JSON.stringify(h)}\n` : packr.pack(h);
}

export function encodeEntry(format: DumpFormat, e: DumpEntry): string | Buffer {
  if (format === 'msgpack') {
    const o: Record<string, unknown> = {};
    if (e.ns !== undefined) o.ns = e.ns;
    o.k = e.k;
    o.v = e.v;
    if (e.x !== undefined) o.x = e.x;
    return packr.pack(o);
  }
  const ns = e.ns === undefined ? '' : `"ns":${JSON.stringify(e.ns)},`;
  const x = e.x === undefined ? '' : `,"x":${e.x}`;
  return `{${ns}"k":"${e.k.toString('base64')}","v":"${e.v.toString('base64')}"${x}}\n`;
}

export function encodeEnd(format: DumpFormat, records: number): string | Buffer {
  const o = { end: true, records };
  return format === 'ndjson' ? `${JSON.stringify(o)}\n` : packr.pack(o);
}

function bad(where: string, why: string): Error {
  return usageError(`not a valid emdb-js dump (${where}): ${why}`);
}

function toBuffer(v: unknown, what: string, where: string): Buffer {
  if (typeof v === 'string') return Buffer.from(v, 'base64');
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  throw bad(where, `${what} is missing`);
}

/** Checks one decoded object and classifies it; the first one must be the header. */
function classify(o: unknown, first: boolean, where: string): DumpItem {
  if (o === null || typeof o !== 'object') throw bad(where, 'not an object');
  const r = o as Record<string, unknown>;
  if (first) {
    if (r.emdbDump !== DUMP_VERSION) throw bad(where, `unknown dump version ${JSON.stringify(r.emdbDump)} (this build reads ${DUMP_VERSION})`);
    if (!Array.isArray(r.namespaces) || !r.namespaces.every((n) => typeof n === 'string')) throw bad(where, 'header has no namespace list');
    const encodings = r.valueEncodings;
    if (encodings !== undefined && (encodings === null || typeof encodings !== 'object' || !Object.values(encodings).every((e) => VALUE_ENCODINGS.includes(e as ValueEncoding)))) {
      throw bad(where, `header has an unknown value encoding (known: ${VALUE_ENCODINGS.join(', ')})`);
    }
    return { kind: 'header', header: r as unknown as DumpHeader };
  }
  if (r.end === true) return { kind: 'end', records: Number(r.records) };
  if (r.ns !== undefined && typeof r.ns !== 'string') throw bad(where, 'ns is not a string');
  // Deadlines are whole epoch milliseconds (what dump writes); load writes them as they are.
  if (r.x !== undefined && (typeof r.x !== 'number' || !Number.isSafeInteger(r.x) || r.x < 1)) throw bad(where, 'x is not a whole number of milliseconds since the epoch');
  return { kind: 'entry', entry: { ns: r.ns as string | undefined, k: toBuffer(r.k, 'k', where), v: toBuffer(r.v, 'v', where), x: r.x as number | undefined } };
}

/** Reads a dump stream item by item; detects the format from its first byte unless `format` is given. */
export async function* readDump(input: Readable, format: DumpFormat | undefined): AsyncGenerator<DumpItem> {
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const firstChunk = await it.next();
  if (firstChunk.done || firstChunk.value.length === 0) throw bad('start', 'empty input');
  const chunk0 = firstChunk.value;
  const fmt: DumpFormat = format ?? (chunk0[0] === 0x7b ? 'ndjson' : 'msgpack');
  // Put the chunk we peeked at back in front of the rest.
  async function* rest(): AsyncGenerator<Buffer> {
    yield chunk0;
    for (let n = await it.next(); !n.done; n = await it.next()) yield n.value;
  }
  let first = true;
  let index = 0;
  let ended = false;
  const objects = fmt === 'ndjson' ? parseLines(rest()) : decodeMsgpack(rest());
  for await (const o of objects) {
    const item = classify(o, first, `record ${index}`);
    if (ended) throw bad(`record ${index}`, 'data after the end marker');
    if (item.kind === 'end') ended = true;
    first = false;
    index++;
    yield item;
  }
  if (first) throw bad('start', 'no header');
  if (!ended) throw bad(`after record ${index}`, 'the stream ends without its end marker (cut short?)');
}

/**
 * One JSON value per line. Split here rather than through readline over a
 * stream: a read error then reaches the caller as a rejection, and a caller
 * that stops early (a bad record) leaves no stream behind to fail later with
 * an unhandled 'error' event.
 */
async function* parseLines(chunks: AsyncIterable<Buffer>): AsyncGenerator<unknown> {
  const decoder = new StringDecoder('utf8');
  let tail = '';
  let n = 0;
  const parse = (raw: string): unknown => {
    n++;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.length === 0) return SKIP;
    try {
      return JSON.parse(line) as unknown;
    } catch {
      throw bad(`line ${n}`, 'not JSON');
    }
  };
  for await (const chunk of chunks) {
    const text = tail + decoder.write(chunk);
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      const o = parse(text.slice(start, nl));
      start = nl + 1;
      if (o !== SKIP) yield o;
    }
    tail = text.slice(start);
  }
  tail += decoder.end();
  if (tail.length > 0) {
    const o = parse(tail);
    if (o !== SKIP) yield o;
  }
}
const SKIP = Symbol('empty line');

async function* decodeMsgpack(chunks: AsyncIterable<Buffer>): AsyncGenerator<unknown> {
  const source = Readable.from(chunks);
  const stream = new UnpackrStream({ useRecords: false });
  // A read error fails the iteration below; after the caller stopped early (a bad record), the
  // late 'premature close' of the source has nobody to reach: both listeners keep it from
  // becoming an unhandled 'error' event that would kill the process.
  source.on('error', (err) => stream.destroy(err));
  stream.on('error', () => undefined);
  source.pipe(stream);
  try {
    for await (const o of stream) yield o;
  } finally {
    source.destroy();
  }
}
