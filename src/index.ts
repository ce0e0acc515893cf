export { Emdb, type Stats } from './db.js';
export { EmdbError, ErrorCode, type ErrorCodeValue } from './errors.js';
export type { OpenOptions, EncryptionOptions } from './options.js';
export type { FlushPolicy, EmdbHandle } from './protocol.js';
export type { ValueEncoding } from './encodings.js';
export type { Key } from './keys.js';
export { MAX_KEY_BYTES, MAX_VALUE_BYTES, FORMAT_VERSION } from './format/constants.js';
export type { LockInfo } from './lock.js';
export type { Transaction } from './transaction.js';
