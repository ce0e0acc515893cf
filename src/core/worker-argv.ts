/**
 * The node options our worker threads start with. A Worker inherits the
 * process's execArgv, and some of those options only make sense for the entry
 * script of the process: with `node --input-type=module -e '…'` a worker that
 * inherits `--input-type` refuses to load its own file ("--input-type can only
 * be used with string input"), so `Emdb.open` would fail in a one-liner.
 */
const ENTRY_ONLY = ['--input-type'];

export function workerExecArgv(execArgv: readonly string[] = process.execArgv): string[] {
  const kept: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i]!;
    const name = arg.split('=', 1)[0]!;
    if (!ENTRY_ONLY.includes(name)) kept.push(arg);
    // `--input-type module` (value as the next argument) drops the value too.
    else if (!arg.includes('=')) i++;
  }
  return kept;
}
