import { Worker } from 'node:worker_threads';

/**
 * The node options our worker threads start with. A Worker inherits the
 * process's options, and `--input-type` only makes sense for the process's
 * entry script: with `node --input-type=module -e '…'` a worker that inherits it
 * refuses to load its own file ("--input-type can only be used with string
 * input"), so `Emdb.open` would fail in a one-liner.
 *
 * Without `--input-type` we pass nothing and the worker inherits as usual. With
 * it, we must pass an explicit execArgv, and Node refuses V8 and per-process
 * options there (ERR_WORKER_INVALID_EXEC_ARGV) although they already apply to
 * every thread of the process: those are left out, found by asking the Worker
 * constructor, which validates synchronously before it starts a thread.
 */
let chosen: { argv: string[] | undefined } | undefined;

export function workerExecArgv(): string[] | undefined {
  chosen ??= { argv: withoutEntryOptions(process.execArgv, acceptedByWorkers) };
  return chosen.argv;
}

/** Pure part, for tests: undefined means "inherit" (no `--input-type` present). */
export function withoutEntryOptions(execArgv: readonly string[], accepts: (args: string[]) => boolean): string[] | undefined {
  const groups = optionGroups(execArgv);
  const rest = groups.filter((g) => !isInputType(g[0]!));
  if (rest.length === groups.length) return undefined;
  const flat = rest.flat();
  if (accepts(flat)) return flat;
  return rest.filter((g) => accepts(g)).flat();
}

const isInputType = (arg: string): boolean => arg === '--input-type' || arg.startsWith('--input-type=');

/** Each option with the value tokens that follow it (`--require x`, `--input-type module`). */
function optionGroups(execArgv: readonly string[]): string[][] {
  const groups: string[][] = [];
  for (const arg of execArgv) {
    if (arg.startsWith('-') || groups.length === 0) groups.push([arg]);
    else groups[groups.length - 1]!.push(arg);
  }
  return groups;
}

function acceptedByWorkers(args: string[]): boolean {
  let probe: Worker;
  try {
    probe = new Worker('', { eval: true, execArgv: args, stdout: true, stderr: true });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_WORKER_INVALID_EXEC_ARGV') return false;
    throw err;
  }
  probe.unref();
  void probe.terminate();
  return true;
}
