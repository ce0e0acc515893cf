/** Exit codes and the error that carries one: shared by every command module and by context.ts. */
/** Stable exit codes: scripts rely on them (README, "Command line"). */
export const Exit = {
  OK: 0,
  USAGE: 1,
  NOT_FOUND: 2,
  DATABASE: 3,
  /** 128 + SIGINT, the shell convention for "stopped by Ctrl-C". */
  INTERRUPTED: 130,
} as const;

/** Thrown to end a command with a given exit code and message. */
export class CliExit extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
    readonly errorCode?: string,
  ) {
    super(message);
  }
}

export const usageError = (message: string): CliExit => new CliExit(Exit.USAGE, message);
export const notFound = (message: string): CliExit => new CliExit(Exit.NOT_FOUND, message, 'NOT_FOUND');

/** Parsed flags of one command, as node:util.parseArgs returns them. */
export type Flags = Record<string, string | boolean | undefined>;
