#!/usr/bin/env node
/**
 * `emdb-js` (also installed as `emdb`): the command-line tool. Usage:
 *   emdb-js <command> <path> [arguments] [flags]
 * Each command lives in its own module; this file parses flags with
 * node:util.parseArgs, runs one command, and maps the outcome to an exit code.
 */
import { parseArgs } from 'node:util';
import { EmdbError, ErrorCode } from '../index.js';
import { ADMIN_COMMANDS } from './cmd-admin.js';
import { cryptoCommands } from './cmd-crypto.js';
import { dump } from './cmd-dump.js';
import { KV_COMMANDS } from './cmd-kv.js';
import { load } from './cmd-load.js';
import { scan } from './cmd-scan.js';
import { verify } from './cmd-verify.js';
import { arityOf, COMMON_HELP, COMMON_OPTIONS, EXIT_HELP, helpOf, optionsOf, refuseUnusedFlags, type Command } from './command.js';
import { CliExit, Context, Exit, hintFor, usageError, type Flags } from './context.js';
import { toolVersion } from './version.js';

const COMMANDS: Command[] = [...KV_COMMANDS, scan, dump, load, verify, ...ADMIN_COMMANDS, ...cryptoCommands()];

function usageLine(cmd: Command): string {
  return `emdb-js ${cmd.name} PATH${cmd.args ? ` ${cmd.args}` : ''} [flags]`;
}

function mainHelp(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length));
  return `emdb-js ${toolVersion()}: inspect, script and move emdb-js databases

Usage: npx emdb-js <command> PATH [arguments] [flags]
       npx emdb-js <command> --help

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`).join('\n')}

${COMMON_HELP}

${EXIT_HELP}
`;
}

function commandHelp(cmd: Command): string {
  return `Usage: ${usageLine(cmd)}\n\n${cmd.summary}.\n\n${helpOf(cmd)}\n\n${COMMON_HELP}\n\n${EXIT_HELP}\n`;
}

interface Parsed {
  cmd: Command;
  path: string;
  args: string[];
  flags: Flags;
}

/** Returns what to run, or undefined when help or the version was printed. */
function parse(argv: string[]): Parsed | undefined {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
    process.stdout.write(topic ? commandHelp(topic) : mainHelp());
    if (name === undefined) throw usageError('no command given');
    return undefined;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${toolVersion()}\n`);
    return undefined;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) throw usageError(`unknown command ${JSON.stringify(name)}; \`emdb-js --help\` lists them`);
  let values: Flags;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: rest, options: { ...COMMON_OPTIONS, ...optionsOf(cmd) }, allowPositionals: true, strict: true }) as {
      values: Flags;
      positionals: string[];
    });
  } catch (err) {
    throw usageError(`${(err as Error).message}\n${usageLine(cmd)}`);
  }
  if (values.help) {
    process.stdout.write(commandHelp(cmd));
    return undefined;
  }
  refuseUnusedFlags(cmd, values);
  const [path, ...args] = positionals;
  if (path === undefined || path === '') throw usageError(`missing PATH\n${usageLine(cmd)}`);
  const [min, max] = arityOf(cmd);
  if (args.length < min || args.length > max) throw usageError(`wrong number of arguments\n${usageLine(cmd)}`);
  return { cmd, path, args, flags: values };
}

function report(err: unknown, json: boolean): number {
  let exitCode: number;
  let code: string | undefined;
  let message: string;
  if (err instanceof CliExit) {
    ({ exitCode, errorCode: code, message } = err);
  } else if (err instanceof EmdbError) {
    // INVALID_CONFIG is the library refusing an argument or flag it was handed (a backup onto
    // the database itself, a key for a plaintext file, a dump of another value encoding): bad input.
    exitCode = err.code === ErrorCode.INVALID_CONFIG ? Exit.USAGE : Exit.DATABASE;
    code = err.code;
    message = err.offset === undefined ? err.message : `${err.message} (offset ${err.offset})`;
  } else {
    exitCode = Exit.DATABASE;
    code = (err as { code?: string } | null)?.code;
    message = (err as Error)?.message ?? String(err);
  }
  if (exitCode === Exit.OK) return exitCode;
  const hint = hintFor(err);
  if (json) {
    process.stderr.write(`${JSON.stringify({ error: { exitCode, code: code ?? null, message, ...(hint ? { hint } : {}) } })}\n`);
  } else {
    const label = exitCode === Exit.USAGE ? (code ? 'bad input' : 'usage') : exitCode === Exit.NOT_FOUND ? 'not found' : exitCode === Exit.INTERRUPTED ? 'interrupted' : 'error';
    process.stderr.write(`emdb-js: ${label}${code && code !== 'NOT_FOUND' ? ` ${code}` : ''}: ${message}\n`);
    if (hint) process.stderr.write(`hint: ${hint}\n`);
  }
  return exitCode;
}

async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  let parsed: Parsed | undefined;
  try {
    parsed = parse(argv);
  } catch (err) {
    return report(err, json);
  }
  if (!parsed) return Exit.OK;
  const ctx = new Context(json);
  // Ctrl-C and a closed pipe stop the command; the finally below closes the
  // database (lock released, every acknowledged write kept). A second Ctrl-C exits at once.
  const onSignal = (sig: NodeJS.Signals): void => {
    if (ctx.stopped && sig === 'SIGINT') process.exit(Exit.INTERRUPTED);
    ctx.stop(sig);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    ctx.stop(err.code === 'EPIPE' ? 'EPIPE' : 'stdout error');
  });
  let exitCode: number = Exit.OK;
  try {
    await parsed.cmd.run(ctx, parsed.path, parsed.args, parsed.flags);
    await ctx.stdout.flushText();
  } catch (err) {
    exitCode = report(ctx.stopped ? ctx.signal.reason : err, json);
  } finally {
    try {
      await ctx.closeAll();
    } catch (err) {
      if (exitCode === Exit.OK) exitCode = report(err, json);
    }
  }
  if (ctx.stopped && exitCode === Exit.OK && ctx.stopReason !== 'EPIPE') exitCode = Exit.INTERRUPTED;
  return exitCode;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`emdb-js: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = Exit.DATABASE;
  },
);
