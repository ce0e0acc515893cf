/**
 * Shared parts of the public-API model commands: the system under test, the
 * generators of keys, values and namespaces, and the command base class.
 */
import fc from 'fast-check';
import type { Emdb } from '../common.js';
import { DEFAULT_NS, type KvModel } from './kv-model.js';

export type Db = Emdb<Buffer>;
export type Space = Pick<Db, 'insert' | 'get' | 'getSync' | 'getMany' | 'contains' | 'remove' | 'len' | 'clear' | 'insertMany' | 'iter' | 'keys'>;

export interface ApiReal {
  db: Db;
  file: string;
  /** Commands executed, by name (for the printed figures). */
  executed: Map<string, number>;
  /** Planted mutant: insertMany acknowledges every entry but the database never receives the last one. */
  mutant?: 'insertManyLosesLast';
}

export type Cmd = fc.AsyncCommand<KvModel, ApiReal, false>;

export const OPEN_OPTIONS = { readers: 1 } as const;

// Keys: short, long (300 bytes), multi-byte UTF-8, one that differs from another only in its last byte.
const KEYS = ['a', 'b', 'key-1', 'key-2', 'ключ', '🔑', 'k'.repeat(300), 'k'.repeat(299) + 'j'];
const NAMESPACES = [DEFAULT_NS, DEFAULT_NS, 'alpha', 'βeta'];
const BIG = 'v'.repeat(20_000);

export const key = fc.constantFrom(...KEYS);
export const ns = fc.constantFrom(...NAMESPACES);
export const namedNs = fc.constantFrom(...NAMESPACES.filter((n) => n !== DEFAULT_NS));
export const value = fc.oneof(
  { weight: 6, arbitrary: fc.string({ maxLength: 24, unit: 'grapheme' }) },
  { weight: 1, arbitrary: fc.constantFrom('', BIG, 'ü'.repeat(3000)) },
);
export const entries = fc.array(fc.tuple(key, value), { minLength: 1, maxLength: 6 });
export const txOps = fc.array(fc.record({ ns, key, value: fc.option(value, { nil: null, freq: 3 }), read: fc.boolean() }), { minLength: 1, maxLength: 6 });

/**
 * The key space `name`; like the API, the model creates a missing namespace on
 * first use (its NS_CREATE is a batch of its own, hence a boundary).
 */
export async function space(m: KvModel, real: ApiReal, name: string): Promise<Space> {
  if (name === DEFAULT_NS) return real.db;
  const handle = await real.db.namespace(name);
  created(m, name);
  return handle;
}

export function created(m: KvModel, name: string): void {
  if (m.visible.has(name)) return;
  m.space(name);
  m.boundary();
}

export const text = (b: Buffer | undefined) => b?.toString('utf8');

/** Base: counts executions; every command may run in any model state. */
export abstract class ApiCommand implements Cmd {
  check(): boolean {
    return true;
  }
  async run(m: KvModel, r: ApiReal): Promise<void> {
    const name = this.constructor.name;
    r.executed.set(name, (r.executed.get(name) ?? 0) + 1);
    await this.act(m, r);
  }
  protected abstract act(m: KvModel, r: ApiReal): Promise<void>;
  abstract toString(): string;
}
