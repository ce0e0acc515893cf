/**
 * Writes keep flowing while compact() runs: an insert loop (puts, overwrites of
 * keys being copied, removes, transactions) runs alongside a compaction of a
 * log big enough to take many steps. Every write acknowledged before, during
 * and after it must be there (a model Map of what was acknowledged) after the
 * compaction and again after a reopen, and some writes must have been
 * acknowledged while it ran (the compaction did not stall them).
 * Negative control: the planted mutant 'compaction-no-catch-up' (the writes made
 * during the copy are not replayed into the new log) must be caught.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, type OpenOptions } from 'emdb-js';
import { tempDirs } from '../helpers/common.js';

const KEYS = 60_000;

async function compactWhileWriting(file: string, extra: OpenOptions = {}): Promise<{ problems: string[]; during: number }> {
  const model = new Map<string, string>();
  let db = await Emdb.open(file, { readers: 1, ...extra });
  const entries = Array.from({ length: KEYS }, (_, i) => [`k${i}`, `v${i}:`.padEnd(120, 'x')] as [string, string]);
  await db.insertMany(entries);
  for (const [k, v] of entries) model.set(k, v);
  await db.insertMany(entries.filter((_, i) => i % 2 === 0).map(([k]) => [k, `again:${k}`] as [string, string]));
  for (let i = 0; i < KEYS; i += 2) model.set(`k${i}`, `again:k${i}`);

  let compacting = true;
  let during = 0;
  const writer = (async () => {
    for (let i = 0; compacting; i++) {
      const k = `k${(i * 7919) % KEYS}`;
      const op = i % 4;
      if (op === 0) {
        await db.insert(k, `live:${i}`);
        model.set(k, `live:${i}`);
      } else if (op === 1) {
        await db.remove(k);
        model.delete(k);
      } else if (op === 2) {
        await db.transaction(async (tx) => {
          tx.insert(`new${i}`, `tx:${i}`);
          tx.remove(`k${(i * 31) % KEYS}`);
        });
        model.set(`new${i}`, `tx:${i}`);
        model.delete(`k${(i * 31) % KEYS}`);
      } else {
        await db.insert(`new${i}`, `n:${i}`);
        model.set(`new${i}`, `n:${i}`);
      }
      if (compacting) during++;
    }
  })();
  const report = await db.compact({ force: true });
  compacting = false;
  await writer;
  expect(report.skipped).toBe(false);
  await db.insert('after', 'compaction');
  model.set('after', 'compaction');

  const problems: string[] = [];
  const check = async (when: string): Promise<void> => {
    const seen = new Map<string, string>();
    for await (const [k, v] of db.iter()) seen.set(String(k), String(v));
    for (const [k, v] of model) if (seen.get(k) !== v) problems.push(`${when}: ${k} is ${seen.get(k)}, want ${v}`);
    for (const k of seen.keys()) if (!model.has(k)) problems.push(`${when}: ${k} should be absent`);
    if ((await db.len()) !== model.size) problems.push(`${when}: len ${await db.len()}, want ${model.size}`);
  };
  await check('after compaction');
  await db.close();
  db = await Emdb.open(file, { readers: 1, ...extra });
  await check('after reopen');
  await db.close();
  return { problems: problems.slice(0, 5), during };
}

describe('compaction with concurrent writes', () => {
  const newDir = tempDirs();

  it('every write acknowledged during compaction is there after it and after reopen; writes were not stalled', async () => {
    const { problems, during } = await compactWhileWriting(path.join(newDir(), 'w.emdb'));
    expect(problems).toEqual([]);
    expect(during).toBeGreaterThan(0);
  }, 120_000);

  it('the same on an encrypted database: the writes made meanwhile are sealed into new units of the new file', async () => {
    const { problems, during } = await compactWhileWriting(path.join(newDir(), 'e.emdb'), { encryption: { key: new Uint8Array(32).fill(7) } });
    expect(problems).toEqual([]);
    expect(during).toBeGreaterThan(0);
  }, 120_000);

  it('catches the planted mutant compaction-no-catch-up', async () => {
    process.env.EMDB_TEST_MUTANT = 'compaction-no-catch-up';
    try {
      const { problems, during } = await compactWhileWriting(path.join(newDir(), 'm.emdb'));
      expect(during).toBeGreaterThan(0);
      expect(problems.length).toBeGreaterThan(0);
    } finally {
      delete process.env.EMDB_TEST_MUTANT;
    }
  }, 120_000);
});
