/**
 * @node-rs/crc32 for the writer bundle (rolldown.config.mjs aliases the
 * package to this file): the same native binding, loaded with require().
 * An ES `import` of that CommonJS package goes through Node's CJS-to-ESM
 * translation, which parses its loader file for export names first; on a
 * thread that has loaded no other CommonJS yet that costs several ms of every
 * open's writer start-up, for one function.
 */
import { createRequire } from 'node:module';
import type * as Crc32 from '@node-rs/crc32';

export const { crc32 } = createRequire(import.meta.url)('@node-rs/crc32') as typeof Crc32;
