/**
 * Nested keys: a Focus is a view of one key space in which every key is
 * `prefix + separator + key` — the UTF-8 bytes of the prefix, the separator
 * ('.' unless the database was opened with another), then the key's bytes
 * (string or binary keys). `focus('a').focus('b')` is `focus('a.b')`.
 *
 * A Group is the set of keys under a prefix, as a whole: count, iterate, or
 * remove all of them with ONE PREFIX_DELETE record (format 3, kind 9: docs/FORMAT.md),
 * which the writer applies to exactly the keys present at that point of the
 * log: crash-atomic, and small whatever the group's size.
 *
 * Iteration and counting go through KeySpace.scanPrefix, the one place that
 * finds a group's keys: with `rangeScans: true` a prefix walk of the sorted
 * index (cost proportional to the group, keys in order); without it a scan of
 * the whole index, filtered (cost proportional to the key space).
 */
import { EmdbError, ErrorCode } from './errors.js';
import { MAX_KEY_BYTES } from './format/constants.js';
import { guard } from './guard.js';
import { keyByteLength, keyList, type Key, type Keys } from './keys.js';
import type { TtlArg } from './ttl.js';

/**
 * What a focus needs of its key space (KeySpace implements it). An interface
 * here rather than an import of keyspace.ts, which imports this module: no cycle.
 */
export interface FocusSpace<V> {
  readonly separator: string;
  insert(key: Key, value: V | string | Uint8Array): Promise<void>;
  insertWithTtl(key: Key, value: V | string | Uint8Array, ttl: TtlArg): Promise<void>;
  get(key: Key): Promise<V | undefined>;
  getSync(key: Key): V | undefined;
  getMany(keys: Keys): Promise<(V | undefined)[]>;
  contains(key: Key): Promise<boolean>;
  remove(key: Key): Promise<boolean>;
  ttl(key: Key): Promise<number | undefined>;
  expiresAt(key: Key): Promise<number | undefined>;
  persist(key: Key): Promise<boolean>;
  decode(value: Buffer): V;
  scanPrefix(prefix: Uint8Array, values: boolean): AsyncGenerator<[Buffer, Buffer]>;
  removePrefix(prefix: Uint8Array): Promise<boolean>;
  /** Wraps an iterator so that next() rejects with ERR_EMDB_CLOSED once the key space is closed or dropped. */
  closable<T>(gen: AsyncIterator<T>): AsyncIterableIterator<T>;
}

/** Validates a focus/group prefix and returns its bytes followed by the separator. */
export function groupPrefix(prefix: unknown, separator: string): Uint8Array {
  if (typeof prefix !== 'string') {
    throw new EmdbError(ErrorCode.INVALID_CONFIG, `a focus/group prefix must be a string, got ${prefix === null ? 'null' : typeof prefix}`);
  }
  if (prefix.length === 0) throw new EmdbError(ErrorCode.INVALID_CONFIG, 'a focus/group prefix must not be empty');
  const bytes = Buffer.from(prefix + separator, 'utf8');
  if (bytes.length >= MAX_KEY_BYTES) throw new EmdbError(ErrorCode.KEY_TOO_LARGE, `a focus/group prefix must be shorter than ${MAX_KEY_BYTES} bytes`);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}

export interface FocusIterOptions {
  /** Yield whole keys (prefix, separator, key) instead of keys relative to the focus. Default false. */
  fullKeys?: boolean;
}

/** Keys under `prefix + separator`, through one key space (see the module comment). */
export class Focus<V = unknown> {
  /** @internal */
  readonly head: Uint8Array;
  private readonly headString: string;

  /** @internal */
  constructor(
    private readonly space: FocusSpace<V>,
    /** The focus's prefix, without the trailing separator. */
    readonly prefix: string,
  ) {
    this.head = groupPrefix(prefix, space.separator);
    this.headString = prefix + space.separator;
  }

  /** The whole key for `key`: the prefix, the separator, then the key's bytes. */
  keyFor(key: Key): Key {
    keyByteLength(key); // refuses empty and non-key values with their own codes
    if (typeof key === 'string') return this.headString + key;
    const out = new Uint8Array(this.head.length + key.length);
    out.set(this.head, 0);
    out.set(key, this.head.length);
    return out;
  }

  insert(key: Key, value: V | string | Uint8Array): Promise<void> {
    return guard(() => this.space.insert(this.keyFor(key), value));
  }

  insertWithTtl(key: Key, value: V | string | Uint8Array, ttl: TtlArg): Promise<void> {
    return guard(() => this.space.insertWithTtl(this.keyFor(key), value, ttl));
  }

  get(key: Key): Promise<V | undefined> {
    return guard(() => this.space.get(this.keyFor(key)));
  }

  getSync(key: Key): V | undefined {
    return this.space.getSync(this.keyFor(key));
  }

  getMany(keys: Keys): Promise<(V | undefined)[]> {
    return guard(() => this.space.getMany(keyList(keys, 'getMany').map((k) => this.keyFor(k))));
  }

  contains(key: Key): Promise<boolean> {
    return guard(() => this.space.contains(this.keyFor(key)));
  }

  remove(key: Key): Promise<boolean> {
    return guard(() => this.space.remove(this.keyFor(key)));
  }

  ttl(key: Key): Promise<number | undefined> {
    return guard(() => this.space.ttl(this.keyFor(key)));
  }

  expiresAt(key: Key): Promise<number | undefined> {
    return guard(() => this.space.expiresAt(this.keyFor(key)));
  }

  persist(key: Key): Promise<boolean> {
    return guard(() => this.space.persist(this.keyFor(key)));
  }

  /** A focus nested in this one: `focus('a').focus('b')` is `focus('a.b')` (with the database's separator). */
  focus(sub: string): Focus<V> {
    groupPrefix(sub, this.space.separator);
    return new Focus<V>(this.space, this.headString + sub);
  }

  /**
   * Live entries under the focus, unsorted; keys relative to the focus unless
   * `{ fullKeys: true }`. After close() (or a drop of the namespace) next()
   * rejects with ERR_EMDB_CLOSED, also with entries read ahead, as iter() does.
   */
  entries(opts: FocusIterOptions = {}): AsyncIterableIterator<[Buffer, V]> {
    const strip = opts.fullKeys === true ? 0 : this.head.length;
    const space = this.space;
    const head = this.head;
    return space.closable(
      (async function* (): AsyncGenerator<[Buffer, V]> {
        for await (const [key, value] of space.scanPrefix(head, true)) yield [key.subarray(strip), space.decode(value)];
      })(),
    );
  }

  /** Live keys under the focus; relative unless `{ fullKeys: true }`. Closed like entries(). */
  keys(opts: FocusIterOptions = {}): AsyncIterableIterator<Buffer> {
    const strip = opts.fullKeys === true ? 0 : this.head.length;
    const space = this.space;
    const head = this.head;
    return space.closable(
      (async function* (): AsyncGenerator<Buffer> {
        for await (const [key] of space.scanPrefix(head, false)) yield key.subarray(strip);
      })(),
    );
  }

  /** Live keys under the focus (a scan; see the module comment). */
  count(): Promise<number> {
    return guard(async () => {
      let n = 0;
      for await (const _ of this.space.scanPrefix(this.head, false)) n++;
      return n;
    });
  }

  /** Removes every key under the focus as one crash-atomic prefix-delete record. */
  clear(): Promise<void> {
    return guard(async () => {
      await this.space.removePrefix(this.head);
    });
  }
}

/**
 * The keys under `prefix + separator` as a whole (db.group(prefix)): keys and
 * entries are yielded WHOLE (prefix included), as the group's members are keys
 * of the key space; a Focus yields them relative to itself.
 */
export class Group<V = unknown> {
  private readonly focus: Focus<V>;

  /** @internal */
  constructor(space: FocusSpace<V>, readonly prefix: string) {
    this.focus = new Focus<V>(space, prefix);
  }

  count(): Promise<number> {
    return this.focus.count();
  }

  keys(): AsyncIterableIterator<Buffer> {
    return this.focus.keys({ fullKeys: true });
  }

  entries(): AsyncIterableIterator<[Buffer, V]> {
    return this.focus.entries({ fullKeys: true });
  }

  /** Deletes the whole group, crash-atomically (one prefix-delete record). */
  remove(): Promise<void> {
    return this.focus.clear();
  }
}
