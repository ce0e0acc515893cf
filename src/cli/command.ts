/** The shape of one CLI command; main.ts parses its flags and runs it. */
import type { ParseArgsConfig } from 'node:util';
import type { Context, Flags } from './context.js';

export type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

export interface Command {
  name: string;
  /** One line, for the command list. */
  summary: string;
  /** Positionals after PATH, as shown in usage: 'KEY [VALUE]'. */
  args: string;
  /** Minimum and maximum positionals after PATH. */
  arity: [number, number];
  /** The rest of `--help`: what it does, its flags, its exit codes. */
  help: string;
  options: OptionsConfig;
  run(ctx: Context, path: string, args: string[], flags: Flags): Promise<void>;
}

/** Every command accepts these. */
export const COMMON_OPTIONS: OptionsConfig = {
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
};

export const COMMON_HELP = `Common:
  -h, --help                this help
  --json                    machine-readable output (one JSON document, or one per line for streams)
  -q, --quiet               no progress output on stderr`;

export const EXIT_HELP = `Exit codes: 0 ok, 1 usage or bad input, 2 not found (no database, no such key),
3 database error (its ERR_EMDB_* code is printed), 130 interrupted (Ctrl-C);
a reader that closes stdout early (| head) ends the command with 0.
A database another process has open fails with ERR_EMDB_LOCKED (exit 3);
\`emdb-js lock-holder PATH\` shows who holds it.`;
