/**
 * The reference model of the model-based tests: one Map per namespace ('' is
 * the default one), kept twice as redb does. `visible` is what reads must show
 * now; `durable` is what must survive a power loss. Between them the model keeps
 * every state at a batch boundary since the durable point (`since`): a crash
 * may recover any one of those, never a state in between (a batch is all or
 * nothing) and never one before the durable point.
 */
import { bin, cloneState, DEFAULT_NS, type DbState } from '../../../dist/test/helpers/engine-state.js';

export { DEFAULT_NS, type DbState };

export class KvModel {
  visible: DbState = new Map([[DEFAULT_NS, new Map()]]);
  /** States at batch boundaries; `since[0]` is the durable one, the last is `visible`. */
  since: DbState[] = [cloneState(this.visible)];

  get durable(): DbState {
    return this.since[0]!;
  }

  space(ns: string): Map<string, string> {
    let entries = this.visible.get(ns);
    if (!entries) this.visible.set(ns, (entries = new Map()));
    return entries;
  }

  has(ns: string, key: string): boolean {
    return this.visible.get(ns)?.has(key) ?? false;
  }

  get(ns: string, key: string): string | undefined {
    return this.visible.get(ns)?.get(key);
  }

  /** Names of the named namespaces, sorted (what db.namespaces() returns). */
  namespaces(): string[] {
    return [...this.visible.keys()].filter((n) => n !== DEFAULT_NS).sort();
  }

  dropNamespace(ns: string): boolean {
    return this.visible.delete(ns);
  }

  /** The visible state is a batch boundary: a crash from here on may recover it. */
  boundary(): void {
    this.since.push(cloneState(this.visible));
  }

  /** Everything visible is durable now (flush, checkpoint, compact, close). */
  markDurable(): void {
    this.since = [cloneState(this.visible)];
  }

  /** Marks the boundary at index `at` of `since` durable (a group flush acknowledged late). */
  markDurableAt(at: number): void {
    this.since = this.since.slice(at);
  }

  /** After a crash or reopen: `state` is what the database holds, all of it durable. */
  reset(state: DbState): void {
    this.visible = cloneState(state);
    this.since = [cloneState(state)];
  }
}

/** A model state (text) as the byte strings the engine state reader returns. */
export function toBin(state: DbState): DbState {
  return new Map([...state].map(([ns, entries]) => [ns, new Map([...entries].map(([k, v]) => [bin(k), bin(v)]))]));
}

/** A byte-string state back to text (the model's keys and values are valid UTF-8). */
export function fromBin(state: DbState): DbState {
  const text = (s: string) => Buffer.from(s, 'latin1').toString('utf8');
  return new Map([...state].map(([ns, entries]) => [ns, new Map([...entries].map(([k, v]) => [text(k), text(v)]))]));
}
