/**
 * Per-key register linearizability of a recorded history. Times are tickets
 * from one shared atomic counter (Atomics.add is sequentially consistent), so
 * `a.response < b.invoke` means a finished before b started, across threads.
 *
 * A read of key k that returned the value written by W is legal when
 *  1. W was invoked before the read responded (no reading from the future), and
 *  2. W was not definitely overwritten: no other write to k both started after W
 *     completed and completed before the read was invoked.
 * A read that found k absent is judged the same way against the initial absent
 * state (invoked and completed before everything) and every remove of k. A write
 * whose outcome is unknown (it failed, e.g. at close) has response = Infinity:
 * it may take effect at any time after its invocation, and it never definitely
 * overwrites anything.
 */

export const ABSENT = -1;

export interface Write {
  key: number;
  /** Unique per write; ABSENT for a remove. */
  value: number;
  /** Identifies a remove (values of removes are all ABSENT). */
  id: number;
  invoke: number;
  response: number;
}

export interface Read {
  key: number;
  /** The write id whose value was returned, or ABSENT. */
  value: number;
  invoke: number;
  response: number;
  source: string;
}

interface KeyWrites {
  /** Writes sorted by invoke, with the smallest response among writes from index i on. */
  byInvoke: Write[];
  suffixMinResponse: Float64Array;
  /** Removes (and the initial state) sorted by invoke, with the largest response up to index i. */
  absents: Write[];
  prefixMaxResponse: Float64Array;
}

const INITIAL: Omit<Write, 'key'> = { value: ABSENT, id: -1, invoke: -Infinity, response: -Infinity };

function index(writes: Write[]): Map<number, KeyWrites> {
  const perKey = new Map<number, Write[]>();
  for (const w of writes) (perKey.get(w.key) ?? perKey.set(w.key, []).get(w.key)!).push(w);
  const out = new Map<number, KeyWrites>();
  for (const [key, list] of perKey) {
    const byInvoke = [...list].sort((a, b) => a.invoke - b.invoke);
    const suffixMinResponse = new Float64Array(byInvoke.length + 1).fill(Infinity);
    for (let i = byInvoke.length - 1; i >= 0; i--) suffixMinResponse[i] = Math.min(suffixMinResponse[i + 1]!, byInvoke[i]!.response);
    const absents = [{ ...INITIAL, key }, ...byInvoke.filter((w) => w.value === ABSENT)];
    const prefixMaxResponse = new Float64Array(absents.length);
    absents.forEach((w, i) => (prefixMaxResponse[i] = Math.max(i > 0 ? prefixMaxResponse[i - 1]! : -Infinity, w.response)));
    out.set(key, { byInvoke, suffixMinResponse, absents, prefixMaxResponse });
  }
  return out;
}

/** Index of the first element of `sorted` whose invoke is > t (sorted.length when none). */
function firstInvokedAfter(sorted: Write[], t: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]!.invoke > t) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** True when some write to the key started after `completed` and finished before `readInvoke`. */
function overwrittenBetween(kw: KeyWrites, completed: number, readInvoke: number): boolean {
  return kw.suffixMinResponse[firstInvokedAfter(kw.byInvoke, completed)]! < readInvoke;
}

/** Every read that breaks the rule, described. */
export function checkRegisters(writes: Write[], reads: Read[]): string[] {
  const perKey = index(writes);
  const byValue = new Map<number, Write>();
  for (const w of writes) if (w.value !== ABSENT) byValue.set(w.value, w);
  const violations: string[] = [];
  for (const r of reads) {
    const kw = perKey.get(r.key) ?? index([{ ...INITIAL, key: r.key }]).get(r.key)!;
    if (r.value === ABSENT) {
      // The absent-writer with the latest completion among those invoked before the read responded is the best witness.
      const n = firstInvokedAfter(kw.absents, r.response - 1); // tickets are integers: invoked before the response
      const best = n > 0 ? kw.prefixMaxResponse[n - 1]! : undefined;
      if (best === undefined) violations.push(`${r.source} read of key ${r.key} at [${r.invoke}, ${r.response}] found it absent before any remove`);
      else if (overwrittenBetween(kw, best, r.invoke)) violations.push(`${r.source} read of key ${r.key} at [${r.invoke}, ${r.response}] found it absent, but a write completed after every remove and before the read`);
      continue;
    }
    const w = byValue.get(r.value);
    if (!w || w.key !== r.key) {
      violations.push(`${r.source} read of key ${r.key} returned value ${r.value}, never written to it`);
    } else if (!(w.invoke < r.response)) {
      violations.push(`${r.source} read of key ${r.key} at [${r.invoke}, ${r.response}] returned write ${r.value} invoked later, at ${w.invoke}`);
    } else if (overwrittenBetween(kw, w.response, r.invoke)) {
      violations.push(`${r.source} read of key ${r.key} at [${r.invoke}, ${r.response}] returned write ${r.value} [${w.invoke}, ${w.response}], which was definitely overwritten`);
    }
  }
  return violations;
}
