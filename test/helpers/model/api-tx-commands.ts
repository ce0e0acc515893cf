/**
 * Transaction commands of the public-API model: commit across namespaces, a
 * callback that throws or aborts, and a namespace dropped while a transaction
 * has writes staged in it.
 */
import { expect } from 'vitest';
import { ErrorCode, rejectsWithCode } from '../common.js';
import { ApiCommand, created, text, type ApiReal } from './api-base.js';
import { DEFAULT_NS, type KvModel } from './kv-model.js';

/** A transaction over several namespaces: own writes visible inside, all of it applied at commit. */
export class TxCommit extends ApiCommand {
  constructor(readonly ops: { ns: string; key: string; value: string | null; read: boolean }[]) {
    super();
  }
  async act(m: KvModel, r: ApiReal) {
    const view = new Map<string, Map<string, string>>();
    const viewOf = (n: string) => {
      let v = view.get(n);
      if (!v) view.set(n, (v = new Map(m.space(n))));
      return v;
    };
    const result = await r.db.transaction(async (tx) => {
      for (const op of this.ops) {
        const target = op.ns === DEFAULT_NS ? tx : await tx.namespace(op.ns);
        if (op.ns !== DEFAULT_NS) created(m, op.ns);
        const v = viewOf(op.ns);
        if (op.value === null) expect(await target.remove(op.key), `${this} remove`).toBe(v.delete(op.key));
        else {
          target.insert(op.key, op.value);
          v.set(op.key, op.value);
        }
        if (op.read) expect(text(await target.get(op.key)), `${this} read own write`).toBe(v.get(op.key));
      }
      return 'committed';
    });
    expect(result).toBe('committed');
    for (const [n, entries] of view) m.visible.set(n, entries);
    m.boundary();
  }
  toString() {
    return `tx.commit(${this.ops.map((o) => `${o.ns || '·'}:${o.value === null ? '-' : '+'}${o.key.slice(0, 6)}`).join(' ')})`;
  }
}

/** A transaction whose callback throws (or aborts): nothing it staged is written. */
export class TxThrow extends ApiCommand {
  constructor(readonly ops: { ns: string; key: string; value: string | null }[], readonly how: 'throw' | 'abort') {
    super();
  }
  async act(m: KvModel, r: ApiReal) {
    const boom = new Error('rolled back on purpose');
    const outcome = r.db.transaction(async (tx) => {
      for (const op of this.ops) {
        // tx.namespace() creates a missing namespace at once, outside the transaction.
        const target = op.ns === DEFAULT_NS ? tx : await tx.namespace(op.ns);
        if (op.ns !== DEFAULT_NS) created(m, op.ns);
        if (op.value === null) await target.remove(op.key);
        else target.insert(op.key, op.value);
      }
      if (this.how === 'abort') tx.abort('aborted on purpose');
      throw boom;
    });
    if (this.how === 'throw') await expect(outcome).rejects.toBe(boom);
    else await rejectsWithCode(outcome, ErrorCode.TRANSACTION_ABORTED);
    for (const op of this.ops) expect(text(r.db.getSync(op.key)), `${this}: ${op.key.slice(0, 6)} untouched`).toBe(m.get(DEFAULT_NS, op.key));
  }
  toString() {
    return `tx.${this.how}(${this.ops.length} staged)`;
  }
}

/**
 * A transaction that stages writes into a named namespace which another call
 * drops before the commit: the commit is refused whole with ERR_EMDB_CLOSED
 * (its other writes are not applied either), and the staged ones never become
 * data (not in the dropped namespace, not in a later one that reuses its id
 * after compaction).
 */
export class TxDropsNamespace extends ApiCommand {
  constructor(readonly ns: string, readonly keys: string[], readonly other: [string, string]) {
    super();
  }
  async act(m: KvModel, r: ApiReal) {
    const outcome = r.db.transaction(async (tx) => {
      const doomed = await tx.namespace(this.ns);
      created(m, this.ns);
      for (const k of this.keys) doomed.insert(k, 'staged before the drop');
      tx.insert(...this.other);
      expect(await r.db.dropNamespace(this.ns)).toBe(true);
      m.dropNamespace(this.ns);
      m.boundary();
    });
    await rejectsWithCode(outcome, ErrorCode.CLOSED);
    expect(text(r.db.getSync(this.other[0])), `${this}: the refused commit's other write is not applied`).toBe(m.get(DEFAULT_NS, this.other[0]));
    expect(await r.db.namespaces()).toEqual(m.namespaces());
  }
  toString() {
    return `tx.dropsNamespace(${JSON.stringify(this.ns)}, ${this.keys.length} staged)`;
  }
}
