/** Header pages of new encrypted files (docs/FORMAT.md, "Encryption"). */
import { DATA_START, PRELUDE_SIZE, SLOT_A_OFFSET } from '../format/constants.js';
import { encodeNewHeader, sealPrelude, type HeaderSlot } from '../format/header.js';
import { DbKeys, type EncryptionSpec } from '../crypto/keys.js';
import { LogCrypt } from './log-crypt.js';

/**
 * The header region of a new encrypted database: the prelude with the
 * cipher, KDF, salts and key check; slot A with its MAC.
 */
export function encodeNewEncryptedHeader(now: number, fileId: Uint8Array, valueEncoding: number, spec: EncryptionSpec): { header: Uint8Array; keys: DbKeys } {
  const buf = encodeNewHeader(now, fileId, valueEncoding);
  const keys = DbKeys.create(buf.subarray(0, PRELUDE_SIZE), spec);
  sealPrelude(buf.subarray(0, PRELUDE_SIZE));
  const slot: HeaderSlot = { sequence: 0, tailHint: DATA_START, checkpointAt: now, liveKeys: 0, prefixCrc: 0 };
  buf.set(new LogCrypt(keys, fileId).slotBytes(slot), SLOT_A_OFFSET);
  return { header: buf, keys };
}
