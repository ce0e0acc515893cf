/**
 * Emdb.enableEncryption / disableEncryption / rotateEncryptionKey: validate,
 * open the database under its current protection (which takes its lock, so
 * an open database is refused with ERR_EMDB_LOCKED, and checks the `from` key
 * before anything is read), have the writer rewrite it (writer/reencrypt.ts),
 * close. Secrets are never part of a message.
 */
import fs from 'node:fs';
import { EmdbError, ErrorCode } from './errors.js';
import { PRELUDE } from './format/constants.js';
import { encodingNameOf } from './format/header.js';
import type { ValueEncoding } from './encodings.js';
import { isPlainObject, validEncryption, type EncryptionOptions } from './options.js';
import { refuseUnknownOptions } from './option-names.js';
import { resolveDatabasePath } from './paths.js';
import type { EncryptionSpec } from './crypto/keys.js';

export interface EncryptionAdminOptions {
  /** Keep the previous file as `<path>.encbak` (default false: no copy of the old file is left). */
  keepBackup?: boolean;
}

export interface RewriteRequest {
  file: string;
  from: EncryptionSpec | undefined;
  to: EncryptionSpec | undefined;
  keepBackup: boolean;
  valueEncoding: ValueEncoding;
}

/** Validates the arguments of an admin call; nothing touches the disk before this returns. */
export function rewriteRequest(
  path: unknown,
  from: EncryptionOptions | undefined,
  to: EncryptionOptions | undefined,
  opts: unknown,
  names: { from?: string; to?: string },
): RewriteRequest {
  if (typeof path !== 'string' || path.length === 0) throw new EmdbError(ErrorCode.INVALID_CONFIG, 'path must be a non-empty string');
  const file = resolveDatabasePath({ path });
  if (opts !== undefined && !isPlainObject(opts)) throw new EmdbError(ErrorCode.INVALID_CONFIG, 'options must be an object');
  const o = (opts ?? {}) as EncryptionAdminOptions;
  refuseUnknownOptions(o, ['keepBackup'], '', 'option');
  if (o.keepBackup !== undefined && typeof o.keepBackup !== 'boolean') throw new EmdbError(ErrorCode.INVALID_CONFIG, 'keepBackup must be a boolean');
  const fromSpec = names.from ? validEncryption(from, names.from) : undefined;
  const toSpec = names.to ? validEncryption(to, names.to) : undefined;
  if (!fs.existsSync(file)) throw new EmdbError(ErrorCode.INVALID_CONFIG, `no database at ${file}`);
  return { file, from: fromSpec, to: toSpec, keepBackup: o.keepBackup === true, valueEncoding: recordedEncoding(file) };
}

/** The value encoding recorded in the prelude, so the open that precedes the rewrite is not refused for it. */
function recordedEncoding(file: string): ValueEncoding {
  const head = Buffer.alloc(PRELUDE.VALUE_ENCODING + 1);
  const fd = fs.openSync(file, 'r');
  try {
    fs.readSync(fd, head, 0, head.length, 0);
  } finally {
    fs.closeSync(fd);
  }
  return encodingNameOf(head[PRELUDE.VALUE_ENCODING]!) ?? 'binary';
}
