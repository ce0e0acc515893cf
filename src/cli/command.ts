/** The shape of one CLI command; main.ts parses its flags and runs it. */
import type { ParseArgsConfig } from 'node:util';
import { KEY_HELP, KEY_OPTIONS, VALUE_OPTIONS } from './bytes.js';
import type { Context, Flags } from './context.js';
import { ErrorCode } from '../index.js';
import { CliExit, Exit } from './exit.js';
import { CIPHER_HELP, SECRET_HELP, secretOptions } from './secrets.js';

export type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

/**
 * Flags several commands take, each group declared and documented once:
 * `keys` the key encoding and namespace flags, `values` the value encoding
 * flags (documented with the keys' help), `secrets` the encryption key or
 * passphrase of the database.
 */
export type FlagGroup = 'keys' | 'values' | 'secrets';

const FLAG_GROUPS: Record<FlagGroup, { options: OptionsConfig; help?: string }> = {
  keys: { options: KEY_OPTIONS, help: KEY_HELP },
  values: { options: VALUE_OPTIONS },
  secrets: { options: secretOptions(), help: SECRET_HELP },
};

export interface Command {
  name: string;
  /** One line, for the command list. */
  summary: string;
  /** Positionals after PATH, as shown in usage: 'KEY [VALUE]'; a bracketed one is optional. */
  args: string;
  /** The shared flag groups it takes; their help follows its own, in this order. */
  groups: FlagGroup[];
  /** Its own flags, besides the groups'. */
  options?: OptionsConfig;
  /**
   * It may create an encrypted database (put, load, encrypt), so the secrets
   * group's --cipher means something here. Every other command refuses it
   * (refuseUnusedFlags) instead of parsing and ignoring it.
   */
  createsDatabase?: boolean;
  /** The rest of `--help`: what it does, its own flags, its exit codes. */
  help: string;
  run(ctx: Context, path: string, args: string[], flags: Flags): Promise<void>;
}

/** Every flag `cmd` accepts besides COMMON_OPTIONS. */
export function optionsOf(cmd: Command): OptionsConfig {
  return Object.assign({}, ...cmd.groups.map((g) => FLAG_GROUPS[g].options), cmd.options);
}

/** Its help followed by its flag groups' help. */
export function helpOf(cmd: Command): string {
  const groupHelp = cmd.groups.map((g) => (g === 'secrets' && cmd.createsDatabase ? `${FLAG_GROUPS[g].help}\n${CIPHER_HELP}` : FLAG_GROUPS[g].help));
  return [cmd.help, ...groupHelp].filter((h) => h !== undefined).join('\n\n');
}

/**
 * Refuses (exit 1, ERR_EMDB_INVALID_CONFIG) a flag the command parses but would
 * not use. --cipher is declared with the secrets group, and only a command
 * that creates a database uses it: `rekey --cipher X` exited 0 and kept the old
 * cipher (its new cipher is --new-cipher), `get --cipher X` did nothing.
 */
export function refuseUnusedFlags(cmd: Command, flags: Flags): void {
  if (flags.cipher === undefined || cmd.createsDatabase) return;
  const why = cmd.options?.['new-cipher']
    ? ': the current cipher is read from the file; give the new one with --new-cipher'
    : ': it chooses the cipher of a database put, load or encrypt creates, and an existing database keeps the cipher it was created with';
  throw new CliExit(Exit.USAGE, `${cmd.name} does not take --cipher${why}`, ErrorCode.INVALID_CONFIG);
}

/** Minimum and maximum positionals after PATH, read from `args`. */
export function arityOf(cmd: Command): [number, number] {
  const names = cmd.args.split(' ').filter((a) => a !== '');
  return [names.filter((a) => !a.startsWith('[')).length, names.length];
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

export const EXIT_HELP = `Exit codes: 0 ok, 1 usage or bad input (an argument the library refuses:
ERR_EMDB_INVALID_CONFIG), 2 not found (no database, no such key),
3 database error (its ERR_EMDB_* code is printed), 130 interrupted (Ctrl-C);
a reader that closes stdout early (| head) ends the command with 0.
A database another process has open fails with ERR_EMDB_LOCKED (exit 3);
\`emdb-js lock-holder PATH\` shows who holds it.`;
