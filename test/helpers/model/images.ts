/**
 * Real database images for the fuzzer and the corruption matrix, written through
 * the public API: puts (short, long and empty values), removes, an insertMany
 * chunk, a transaction across namespaces with a removal, clear, a namespace
 * drop, a checkpoint in the middle. Three shapes:
 *  - 'open': copied while open after a flush: the tail hint (from the checkpoint)
 *    lies well before the end, as after a crash;
 *  - 'closed': the same database after close: the tail hint is the end, and the
 *    older slot still holds the checkpoint's;
 *  - 'compacted': after compact() and a few more writes and a checkpoint: the
 *    rewritten log (catalogue first, no transaction framing), slot B empty.
 * Each comes with the oracle read from it by log-interpreter.ts, checked against
 * what the API itself shows at that moment.
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import type { DbState } from '../../../dist/test/helpers/engine-state.js';
import { diffDbStates } from '../../../dist/test/helpers/engine-state.js';
import type { ImageSpec } from '../../../dist/test/helpers/fuzz-core.js';
import { Emdb } from '../common.js';
import { activeTailHint } from '../log-image.js';
import { interpretLog } from './log-interpreter.js';

type Db = Emdb<Buffer>;

/** Every namespace through the API, keys and values as byte strings. */
export async function apiState(db: Db): Promise<DbState> {
  const state: DbState = new Map();
  for (const name of ['', ...(await db.namespaces())]) {
    const space = name === '' ? db : await db.namespace(name);
    const entries = new Map<string, string>();
    for await (const [k, v] of space.iter()) entries.set(k.toString('latin1'), v.toString('latin1'));
    state.set(name, entries);
  }
  return state;
}

/** Interprets `bytes` and checks the interpretation against the API's view of the same moment. */
function specOf(name: string, bytes: Buffer, seen: DbState): ImageSpec {
  const log = interpretLog(bytes);
  const diff = diffDbStates(log.states[log.states.length - 1]!, seen);
  expect(diff, `${name}: the interpreted log disagrees with the API`).toBeUndefined();
  return { name, bytes, tailHint: activeTailHint(bytes), ...log };
}

export async function buildImages(dir: string): Promise<ImageSpec[]> {
  const file = path.join(dir, 'images.emdb');
  const db: Db = await Emdb.open(file, { readers: 1 });
  const alpha = await db.namespace('alpha');
  const keyOf = (i: number) => `key-${i}`.padEnd(4 + ((i * 37) % 90), '.');
  for (let i = 0; i < 16; i++) await db.insert(keyOf(i), `value-${i}-`.padEnd((i * 523) % 2600, String.fromCharCode(97 + i)));
  await db.insert('empty', '');
  await alpha.insert('ключ', 'значение');
  await alpha.insert('a1', 'x'.repeat(700));
  await db.remove(keyOf(3));
  await db.insertMany([['many-1', 'one'], ['many-2', 'two'.repeat(40)], [keyOf(1), 'overwritten by insertMany']]);
  await db.transaction(async (tx) => {
    const beta = await tx.namespace('βeta');
    beta.insert('b1', 'in a transaction');
    beta.insert('b2', '');
    tx.insert('tx-key', 'committed');
    await tx.remove(keyOf(5));
  });
  await alpha.insert('a2', 'before clear');
  await alpha.clear();
  await alpha.insert('a3', 'after clear');
  await db.checkpoint();
  // After the checkpoint: flushed only, so the tail hint stays before these.
  await db.insert('after-1', 'p'.repeat(5000));
  await db.remove('many-1');
  await db.insertMany([['after-many', 'chunk'], ['after-2', 'q'.repeat(300)]]);
  await db.dropNamespace('βeta');
  await db.transaction(async (tx) => {
    (await tx.namespace('alpha')).insert('a4', 'tx after checkpoint');
    tx.insert('after-3', 'r');
  });
  await db.insert('last', 'the last record');
  await db.flush();
  // Images taken while open are the log: the zeros preallocated past it are not part of it (recovery cuts them).
  const open = specOf('open', fs.readFileSync(file).subarray(0, (await db.stats()).fileBytes), await apiState(db));
  await db.close();
  const closed = specOf('closed', fs.readFileSync(file), open.states[open.states.length - 1]!);

  const again: Db = await Emdb.open(file, { readers: 1 });
  await again.compact();
  await again.insert('post-compact', 'written after compaction');
  await again.remove(keyOf(0));
  await again.insertMany([['post-many', '1'], ['post-many-2', '2']]);
  await again.checkpoint();
  await again.insert('post-checkpoint', 'tail');
  await again.flush();
  const compacted = specOf('compacted', fs.readFileSync(file).subarray(0, (await again.stats()).fileBytes), await apiState(again));
  await again.close();
  fs.rmSync(file, { force: true });

  expect(open.tailHint).toBeLessThan(open.bytes.length);
  expect(closed.tailHint).toBe(closed.bytes.length);
  expect(compacted.tailHint).toBeLessThan(compacted.bytes.length);
  return [open, closed, compacted];
}
