import { EmdbError, ErrorCode } from './errors.js';

/**
 * Refuses every own property of `given` that is not in `known`, naming it and
 * the closest known name. A misspelled option (`flushpolicy`, `maxWait`) would
 * otherwise be ignored and quietly fall back to a default: for a flush policy,
 * that weakens durability without a word.
 *
 * `where` prefixes the name in the message (`flushPolicy.` for nested fields).
 */
export function refuseUnknownOptions(given: object, known: readonly string[], where = '', what = 'option'): void {
  for (const name of Object.keys(given)) {
    if (known.includes(name)) continue;
    const guess = closest(name, known);
    const hint = guess === undefined ? `known options: ${known.join(', ')}` : `did you mean ${where}${guess}?`;
    throw new EmdbError(ErrorCode.INVALID_CONFIG, `unknown ${what} ${where}${name} (${hint})`);
  }
}

/**
 * The known name nearest to `name` by edit distance, ignoring case (a wrong
 * case is the commonest typo), or undefined when nothing is close: a guess
 * further than a third of the name's length would mislead more than help.
 */
export function closest(name: string, known: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = editDistance(lower, candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.ceil(name.length / 3)) ? best : undefined;
}

/** Levenshtein distance (insert, delete, substitute), one row at a time. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost));
    }
    prev = row;
  }
  return prev[b.length]!;
}
