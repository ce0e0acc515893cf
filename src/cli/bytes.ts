/**
 * Keys and values on the command line: text (UTF-8) by default, or hex/base64
 * with --key-hex/--key-base64 and --value-hex/--value-base64, both for what the
 * user types and for what the CLI prints.
 */
import { usageError, type Flags } from './context.js';

export type TextEncoding = 'utf8' | 'hex' | 'base64';

export const KEY_OPTIONS = {
  'key-hex': { type: 'boolean' },
  'key-base64': { type: 'boolean' },
  namespace: { type: 'string', short: 'n' },
} as const;

export const VALUE_OPTIONS = {
  'value-hex': { type: 'boolean' },
  'value-base64': { type: 'boolean' },
} as const;

export const KEY_HELP = `Keys and values:
  -n, --namespace NAME      work in namespace NAME (default: the default namespace)
  --key-hex, --key-base64   KEY arguments (and printed keys) are hex / base64
  --value-hex, --value-base64  VALUE input (and printed values) are hex / base64`;

function pick(flags: Flags, what: 'key' | 'value'): TextEncoding {
  const hex = flags[`${what}-hex`] === true;
  const b64 = flags[`${what}-base64`] === true;
  if (hex && b64) throw usageError(`--${what}-hex and --${what}-base64 exclude each other`);
  return hex ? 'hex' : b64 ? 'base64' : 'utf8';
}

export const keyEncoding = (flags: Flags): TextEncoding => pick(flags, 'key');
export const valueEncoding = (flags: Flags): TextEncoding => pick(flags, 'value');

/** Decodes user input; hex and base64 are checked strictly, since Buffer.from silently drops bad characters. */
export function decodeArg(text: string, enc: TextEncoding, what: string): Buffer {
  if (enc === 'hex') {
    const t = text.trim();
    if (t.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(t)) throw usageError(`${what} is not valid hex`);
    return Buffer.from(t, 'hex');
  }
  if (enc === 'base64') {
    const t = text.trim();
    if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(t)) throw usageError(`${what} is not valid base64`);
    return Buffer.from(t, 'base64');
  }
  return Buffer.from(text, 'utf8');
}

export function decodeKey(text: string, flags: Flags, what = 'KEY'): Buffer {
  const key = decodeArg(text, keyEncoding(flags), what);
  if (key.length === 0) throw usageError(`${what} is empty (keys are 1 to 16,384 bytes)`);
  return key;
}

export function encodeOut(bytes: Uint8Array, enc: TextEncoding): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString(enc);
}

/** The namespace flag, or undefined for the default namespace. */
export function namespaceFlag(flags: Flags): string | undefined {
  const ns = flags.namespace;
  if (ns === undefined) return undefined;
  if (typeof ns !== 'string' || ns.length === 0) throw usageError('--namespace needs a name');
  return ns;
}
