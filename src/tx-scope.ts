import { AsyncLocalStorage } from 'node:async_hooks';

/** One running transaction as its async context sees it: which queue it holds, and whether it is over. */
interface TxFrame {
  owner: object;
  finished: boolean;
}

/**
 * The transactions the current async context runs inside. Transactions on one
 * database are serialised, so one started from inside another (same database,
 * same async context) would wait for the outer one to commit, which waits for
 * the inner one: a deadlock. Tracking the frames lets transaction() refuse that
 * at once. The frame list is per context, so independent concurrent
 * transactions (other contexts) still just queue, and a callback that outlives
 * its transaction (a timer set inside it) is not mistaken for nesting.
 */
const scope = new AsyncLocalStorage<readonly TxFrame[]>();
/** Transactions running now, all databases of this thread together. */
let running = 0;

/** True when the caller runs inside a still-running transaction of `owner`. */
export function insideTransaction(owner: object): boolean {
  return running > 0 && (scope.getStore() ?? []).some((f) => f.owner === owner && !f.finished);
}

/**
 * Runs `fn` as a transaction of `owner`: nested transaction() calls from inside it see the frame.
 *
 * On Node 20 a used AsyncLocalStorage installs a promise hook that makes every
 * promise of the process about 3× dearer (measured on a loop of awaited
 * promises), for as long as it stays enabled. So the storage is disabled again
 * whenever no transaction runs: plain reads and writes pay nothing, and the
 * cost is paid only while a transaction is in progress.
 */
export async function runAsTransaction<T>(owner: object, fn: () => Promise<T>): Promise<T> {
  const frame: TxFrame = { owner, finished: false };
  running++;
  try {
    return await scope.run([...(scope.getStore() ?? []), frame], fn);
  } finally {
    frame.finished = true;
    if (--running === 0) scope.disable();
  }
}
