/**
 * Encryption admin commands, registered only when this build of emdb-js has
 * encryption (`Emdb.enableEncryption` exists). Offline: the database must not be
 * open. Secrets come from files or environment variables (secrets.ts).
 */
import { Emdb, type EncryptionOptions } from '../index.js';
import type { Command } from './command.js';
import { assertDatabaseExists, usageError, type Flags } from './context.js';
import { encryptionFromFlags, secretOptions } from './secrets.js';

interface EncryptionAdmin {
  enableEncryption(path: string, enc: EncryptionOptions, opts?: { keepBackup?: boolean }): Promise<void>;
  disableEncryption(path: string, enc: EncryptionOptions, opts?: { keepBackup?: boolean }): Promise<void>;
  rotateEncryptionKey(path: string, from: EncryptionOptions, to: EncryptionOptions, opts?: { keepBackup?: boolean }): Promise<void>;
}

function admin(): EncryptionAdmin | undefined {
  const e = Emdb as unknown as Partial<EncryptionAdmin>;
  return typeof e.enableEncryption === 'function' && typeof e.disableEncryption === 'function' && typeof e.rotateEncryptionKey === 'function'
    ? (e as EncryptionAdmin)
    : undefined;
}

async function need(flags: Flags, prefix = ''): Promise<EncryptionOptions> {
  const enc = await encryptionFromFlags(flags, prefix);
  if (!enc) throw usageError(`give the ${prefix ? 'new ' : ''}key with --${prefix}encryption-key-file/--${prefix}encryption-key-env or --${prefix}passphrase-file/--${prefix}passphrase-env`);
  return enc;
}

const KEEP = { 'keep-backup': { type: 'boolean' } } as const;
const KEEP_HELP = '  --keep-backup             keep the old file as PATH.encbak (default: no copy is left)';

/** encrypt and decrypt: one key, one rewrite; they differ only in the admin call and the words. */
function toggle(name: string, summary: string, help: string, act: (path: string, enc: EncryptionOptions, flags: Flags) => Promise<void>, done: string, createsDatabase: boolean): Command {
  return {
    name,
    summary,
    args: '',
    groups: ['secrets'],
    createsDatabase,
    options: KEEP,
    help: `${help}\n${KEEP_HELP}`,
    async run(ctx, path, _a, flags) {
      assertDatabaseExists(path);
      await act(path, await need(flags), flags);
      ctx.note(`${name}: ${path} ${done}`);
    },
  };
}

export function cryptoCommands(): Command[] {
  const api = admin();
  if (!api) return [];
  const opts = (flags: Flags) => ({ keepBackup: flags['keep-backup'] === true });
  return [
    toggle('encrypt', 'encrypt a plaintext database in place', 'Rewrites PATH encrypted with the given key or passphrase (one atomic rename).',
      (path, enc, flags) => api.enableEncryption(path, enc, opts(flags)), 'is encrypted', true),
    toggle('decrypt', 'decrypt a database in place', 'Rewrites PATH as plaintext (one atomic rename); needs its current key.',
      (path, enc, flags) => api.disableEncryption(path, enc, opts(flags)), 'is plaintext', false),
    {
      name: 'rekey',
      summary: 'rotate the encryption key',
      args: '',
      groups: ['secrets'],
      options: { ...secretOptions('new-'), ...KEEP },
      help: `Re-encrypts PATH from the current key (the flags under "Encryption") to a new
one, given with the same flags prefixed with new- (one of the four is required):
  --new-encryption-key-file F   new 32-byte key: raw, or 64 hex characters, or base64
  --new-encryption-key-env VAR  the same, from environment variable VAR
  --new-passphrase-file F       new passphrase (one trailing newline is ignored)
  --new-passphrase-env VAR      new passphrase from environment variable VAR
  --new-cipher C                aes-256-gcm or chacha20-poly1305 (default: the file's
                                current cipher); --cipher is refused here
${KEEP_HELP}`,
      async run(ctx, path, _a, flags) {
        assertDatabaseExists(path);
        await api.rotateEncryptionKey(path, await need(flags), await need(flags, 'new-'), opts(flags));
        ctx.note(`rekey: ${path} uses the new key`);
      },
    },
  ];
}
