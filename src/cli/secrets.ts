/**
 * Encryption secrets for the CLI. They come from a file or an environment
 * variable, never from argv: every user on the machine can read argv in `ps`.
 */
import fsp from 'node:fs/promises';
import { ErrorCode, type EncryptionOptions } from '../index.js';
import { CliExit, Exit, usageError, type Flags } from './exit.js';

/** parseArgs declarations of the secret flags, with an optional prefix ('new-' for rekey's target). */
export function secretOptions(prefix = ''): Record<string, { type: 'string' }> {
  return {
    [`${prefix}encryption-key-file`]: { type: 'string' },
    [`${prefix}encryption-key-env`]: { type: 'string' },
    [`${prefix}passphrase-file`]: { type: 'string' },
    [`${prefix}passphrase-env`]: { type: 'string' },
    [`${prefix}cipher`]: { type: 'string' },
  };
}

export const SECRET_HELP = `Encryption (a file or an environment variable, never argv, which other users see in ps):
  --encryption-key-file F   32-byte key: raw, or 64 hex characters, or base64
  --encryption-key-env VAR  the same, from environment variable VAR
  --passphrase-file F       passphrase, UTF-8 (one trailing newline is ignored)
  --passphrase-env VAR      passphrase from environment variable VAR`;

/** Only in the help of the commands that create a database (Command.createsDatabase): elsewhere --cipher is refused. */
export const CIPHER_HELP = `  --cipher C                aes-256-gcm (default) or chacha20-poly1305, for a database this
                            command creates (an existing one keeps the cipher it was created with)`;

function decodeKeyText(text: string, where: string): Uint8Array {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Buffer.from(t, 'hex');
  const b = Buffer.from(t, 'base64');
  if (b.length === 32) return b;
  throw usageError(`${where}: an encryption key is 32 bytes (raw, 64 hex characters or base64)`);
}

/**
 * A passphrase file as text. Bytes that are not UTF-8 are refused, not decoded
 * to U+FFFD: two different files would then be one passphrase (the library
 * refuses lone surrogates for the same reason).
 */
function passphraseText(raw: Buffer, file: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(raw).replace(/\r?\n$/, '');
  } catch {
    throw new CliExit(Exit.USAGE, `${file}: a passphrase file must be UTF-8 text`, ErrorCode.INVALID_CONFIG);
  }
}

function envValue(name: string): string {
  const v = process.env[name];
  if (v === undefined || v === '') throw usageError(`environment variable ${name} is not set`);
  return v;
}

async function readSecretFile(file: string): Promise<Buffer> {
  try {
    return await fsp.readFile(file);
  } catch (err) {
    throw usageError(`cannot read ${file}: ${(err as Error).message}`);
  }
}

/** The `encryption` open option described by the flags, or undefined when none is given. */
export async function encryptionFromFlags(flags: Flags, prefix = ''): Promise<EncryptionOptions | undefined> {
  const get = (name: string): string | undefined => {
    const v = flags[`${prefix}${name}`];
    return typeof v === 'string' ? v : undefined;
  };
  const given = ['encryption-key-file', 'encryption-key-env', 'passphrase-file', 'passphrase-env'].filter((n) => get(n) !== undefined);
  if (given.length > 1) throw usageError(`give one of --${prefix}encryption-key-file, --${prefix}encryption-key-env, --${prefix}passphrase-file, --${prefix}passphrase-env`);
  const cipher = get('cipher');
  if (cipher !== undefined && cipher !== 'aes-256-gcm' && cipher !== 'chacha20-poly1305') {
    throw usageError(`--${prefix}cipher is aes-256-gcm or chacha20-poly1305`);
  }
  const withCipher = (o: EncryptionOptions): EncryptionOptions => (cipher ? { ...o, cipher } : o);
  const keyFile = get('encryption-key-file');
  if (keyFile !== undefined) {
    const raw = await readSecretFile(keyFile);
    return withCipher({ key: raw.length === 32 ? new Uint8Array(raw) : decodeKeyText(raw.toString('utf8'), keyFile) });
  }
  const keyEnv = get('encryption-key-env');
  if (keyEnv !== undefined) return withCipher({ key: decodeKeyText(envValue(keyEnv), keyEnv) });
  const passFile = get('passphrase-file');
  if (passFile !== undefined) return withCipher({ passphrase: passphraseText(await readSecretFile(passFile), passFile) });
  const passEnv = get('passphrase-env');
  if (passEnv !== undefined) return withCipher({ passphrase: envValue(passEnv) });
  if (cipher !== undefined) throw usageError(`--${prefix}cipher needs a key or a passphrase`);
  return undefined;
}
