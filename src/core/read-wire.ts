/**
 * Byte layout of a read task's key block and of its result block, shared by the
 * main thread (encoder/decoder) and the reader worker. Little-endian throughout.
 *
 * Key block:    count × ( namespace u32 | key length u32 | key bytes )
 * Result block: count × ( value length i32, -1 = absent ) then the values, concatenated
 */
export const KEY_ENTRY_HEADER = 8;
export const RESULT_LEN_SIZE = 4;
export const ABSENT = -1;
