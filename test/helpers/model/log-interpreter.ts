/**
 * A small, independent reading of a database log for test oracles: walks the
 * records of a clean image (every CRC must pass), groups them into units (a
 * record, or a transaction TX_BEGIN … TX_COMMIT) and replays them into the
 * state after each unit. It shares no code with the engine's recovery, so the
 * states it derives can judge what recovery returns.
 */
import { crc32 } from '@node-rs/crc32';
import { cloneState, type DbState } from '../../../dist/test/helpers/engine-state.js';
import type { RecordSpan } from '../../../dist/test/helpers/fuzz-core.js';
import { DATA_START, HEADER, Kind, RECORD_MAGIC } from '../log-image.js';

// docs/FORMAT.md record kinds beyond the ones log-image.ts names
const NS_CREATE = 5;
const NS_DROP = 6;
const CLEAR = 7;

export interface InterpretedLog {
  records: RecordSpan[];
  unitEnds: number[];
  /** State after 0, 1, … units (keys and values as byte strings, namespace names as text). */
  states: DbState[];
  /** `${namespace}\0${key}\0${value}` of every PUT. */
  written: string[];
  namespaces: string[];
}

export function interpretLog(buf: Buffer): InterpretedLog {
  const records: RecordSpan[] = [];
  const unitEnds: number[] = [];
  const state: DbState = new Map([['', new Map()]]);
  const states = [cloneState(state)];
  const names = new Map<number, string>([[0, '']]);
  const written = new Set<string>();
  const namespaces = new Set<string>();
  let inTx = false;
  let at = DATA_START;
  while (at < buf.length) {
    if (at + HEADER > buf.length || buf.readUInt32LE(at) !== RECORD_MAGIC) throw new Error(`no record at ${at}`);
    const kind = buf[at + 8]!;
    const ns = buf.readUInt32LE(at + 12);
    const keyLen = buf.readUInt32LE(at + 16);
    const end = at + HEADER + keyLen + buf.readUInt32LE(at + 20);
    if (end > buf.length || crc32(buf.subarray(at + 8, end)) !== buf.readUInt32LE(at + 4)) throw new Error(`bad record at ${at}`);
    const key = buf.toString('latin1', at + HEADER, at + HEADER + keyLen);
    const value = buf.toString('latin1', at + HEADER + keyLen, end);
    records.push({ start: at, end, kind });
    const name = names.get(ns);
    const entries = name === undefined ? undefined : state.get(name);
    switch (kind) {
      case Kind.PUT:
        entries!.set(key, value);
        written.add(`${name}\0${key}\0${value}`);
        break;
      case Kind.TOMBSTONE:
        entries!.delete(key);
        break;
      case CLEAR:
        entries!.clear();
        break;
      case NS_CREATE: {
        const text = buf.toString('utf8', at + HEADER, at + HEADER + keyLen);
        names.set(ns, text);
        namespaces.add(text);
        state.set(text, new Map());
        break;
      }
      case NS_DROP:
        state.delete(name!);
        names.delete(ns);
        break;
    }
    if (kind === Kind.TX_BEGIN) inTx = true;
    if (kind === Kind.TX_COMMIT) inTx = false;
    if (!inTx) {
      unitEnds.push(end);
      states.push(cloneState(state));
    }
    at = end;
  }
  if (inTx) throw new Error('image ends inside a transaction');
  return { records, unitEnds, states, written: [...written], namespaces: [...namespaces] };
}
