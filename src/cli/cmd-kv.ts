/** Single-key commands (get, put, del) and the read-only summaries (stats, namespaces). */
import { decodeArg, decodeKey, encodeOut, keyEncoding, namespaceFlag, valueEncoding } from './bytes.js';
import type { Command } from './command.js';
import { unpack } from 'msgpackr';
import { notFound, recordedEncoding, usageError, type Context, type Flags } from './context.js';
import type { Emdb, Namespace, ValueEncoding } from '../index.js';

type Space = Emdb<Buffer> | Namespace<Buffer>;

/** The key space the --namespace flag names. Read-only commands do not create a missing namespace. */
export async function spaceFor(db: Emdb<Buffer>, flags: Flags, create: boolean): Promise<Space> {
  const name = namespaceFlag(flags);
  if (name === undefined) return db;
  if (!create && !(await db.namespaces()).includes(name)) throw notFound(`no namespace ${JSON.stringify(name)}`);
  return db.namespace<Buffer>(name);
}

/**
 * Refuses (exit 1) a value the database or namespace could not read back under
 * the value encoding it recorded: `put` stores bytes as given, and a 'json'
 * namespace holding text that is not JSON would fail every later read of it.
 */
function checkStorable(value: Buffer, encoding: ValueEncoding | undefined): void {
  const refuse = (what: string): never => {
    throw usageError(`the value is not ${what}, and this ${encoding} database (or namespace) stores ${what} values`);
  };
  if (encoding === 'utf8' || encoding === 'json') {
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(value);
    } catch {
      return refuse(encoding === 'utf8' ? 'UTF-8 text' : 'JSON');
    }
    if (encoding === 'json') {
      try {
        JSON.parse(text);
      } catch {
        refuse('JSON');
      }
    }
  } else if (encoding === 'msgpack') {
    try {
      unpack(value);
    } catch {
      refuse('msgpack');
    }
  }
}

async function readStdin(ctx: Context): Promise<Buffer> {
  if (process.stdin.isTTY) ctx.note('reading the value from stdin (end with Ctrl-D)');
  const parts: Buffer[] = [];
  for await (const chunk of process.stdin) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

const get: Command = {
  name: 'get',
  summary: 'print the value of KEY',
  args: 'KEY',
  groups: ['keys', 'values', 'secrets'],
  help: `Prints the value's bytes as they are (a newline is added on a terminal), or
hex/base64 text with --value-hex/--value-base64. Exit 2 when KEY is absent.`,
  async run(ctx, path, [keyText], flags) {
    const key = decodeKey(keyText!, flags);
    const db = await ctx.open(path, flags);
    // getSync probes the shared index on this thread: no reader thread has to start for one key.
    const value = (await spaceFor(db, flags, false)).getSync(key);
    if (value === undefined) throw notFound('key not found');
    const venc = valueEncoding(flags);
    if (ctx.json) {
      const shown = flags['value-hex'] || flags['value-base64'] ? venc : 'base64';
      await ctx.stdout.text(`${JSON.stringify({ key: encodeOut(key, keyEncoding(flags)), value: encodeOut(value, shown), valueEncoding: shown })}\n`);
    } else if (venc !== 'utf8') {
      await ctx.stdout.text(`${encodeOut(value, venc)}\n`);
    } else {
      await ctx.stdout.bytes(value);
      if (process.stdout.isTTY) await ctx.stdout.text('\n');
    }
  },
};

const put: Command = {
  name: 'put',
  summary: 'set KEY to VALUE (or to stdin)',
  args: 'KEY [VALUE]',
  groups: ['keys', 'values', 'secrets'],
  createsDatabase: true,
  help: `Writes KEY = VALUE and flushes it (durable when the command exits). Without
VALUE, or with VALUE "-", the value is read from stdin (binary safe). Creates the
database and the namespace when they do not exist.`,
  async run(ctx, path, [keyText, valueText], flags) {
    const key = decodeKey(keyText!, flags);
    const venc = valueEncoding(flags);
    let value: Buffer;
    if (valueText === undefined || valueText === '-') {
      const raw = await readStdin(ctx);
      value = venc === 'utf8' ? raw : decodeArg(raw.toString('utf8'), venc, 'the value on stdin');
    } else {
      value = decodeArg(valueText, venc, 'VALUE');
    }
    const db = await ctx.open(path, flags, { create: true });
    const space = await spaceFor(db, flags, true);
    // The CLI writes stored bytes: bytes the database could not decode later are refused here.
    const recorded = space === db ? recordedEncoding(path) : (space as Namespace<Buffer>).recordedEncoding;
    checkStorable(value, recorded);
    await space.insert(key, value);
    await db.flush();
    if (ctx.json) await ctx.stdout.text(`${JSON.stringify({ ok: true, bytes: value.length })}\n`);
  },
};

const del: Command = {
  name: 'del',
  summary: 'remove KEY',
  args: 'KEY',
  groups: ['keys', 'secrets'],
  help: `Removes KEY and flushes. Exit 2 when KEY was absent.`,
  async run(ctx, path, [keyText], flags) {
    const key = decodeKey(keyText!, flags);
    const db = await ctx.open(path, flags);
    const existed = await (await spaceFor(db, flags, false)).remove(key);
    await db.flush();
    if (ctx.json) await ctx.stdout.text(`${JSON.stringify({ removed: existed })}\n`);
    if (!existed) throw notFound('key not found');
  },
};

const namespaces: Command = {
  name: 'namespaces',
  summary: 'list namespaces and their record counts',
  args: '',
  groups: ['secrets'],
  help: `Prints one namespace per line: its name and live record count, a tab
between them. The default namespace is not listed. --json prints an array.`,
  async run(ctx, path, _args, flags) {
    const db = await ctx.open(path, flags);
    const rows: { name: string; records: number }[] = [];
    for (const name of await db.namespaces()) rows.push({ name, records: await (await db.namespace<Buffer>(name)).len() });
    if (ctx.json) await ctx.stdout.text(`${JSON.stringify(rows)}\n`);
    else for (const r of rows) await ctx.stdout.text(`${r.name}\t${r.records}\n`);
  },
};

function flatten(obj: object, prefix = ''): [string, string][] {
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(obj)) {
    if (v !== null && typeof v === 'object') out.push(...flatten(v as object, `${prefix}${k}.`));
    else out.push([`${prefix}${k}`, typeof v === 'number' ? v.toLocaleString('en-US', { maximumFractionDigits: 3 }) : String(v)]);
  }
  return out;
}

const stats: Command = {
  name: 'stats',
  summary: 'print database statistics',
  args: '',
  groups: ['secrets'],
  help: `Prints db.stats(): live records, live/dead/file bytes, namespaces, index
capacity and load, how the open recovered, and more; --json for all of it as JSON.`,
  async run(ctx, path, _args, flags) {
    const db = await ctx.open(path, flags);
    const s = { path, ...(await db.stats()) };
    if (ctx.json) {
      await ctx.stdout.text(`${JSON.stringify(s)}\n`);
      return;
    }
    const rows = flatten(s);
    const w = Math.max(...rows.map(([k]) => k.length));
    for (const [k, v] of rows) await ctx.stdout.text(`${k.padEnd(w)}  ${v}\n`);
  },
};

export const KV_COMMANDS: Command[] = [stats, get, put, del, namespaces];
