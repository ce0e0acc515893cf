/**
 * The workload of the incremental-compaction crash enumerations (plain and
 * with the page cache): 160 keys (some values over 4 KiB), overwrites and
 * removes, then compactBegin, then 12 rounds of (one compaction step, a write
 * unit touching keys being copied: put, remove, insertMany chunk or
 * transaction, sometimes a flush), then the swap, more writes, flush, close.
 */
import type { Put, Unit } from './engine-harness.js';
import type { Step } from './workload.js';

export function concurrentCompactionWorkload(): Step[] {
  const value = (i: number, round: number): string => `${round}:${i}|`.padEnd(i % 37 === 0 ? 4500 : 30 + (i % 11) * 7, String.fromCharCode(97 + (i % 26)));
  const put = (i: number, round: number): Put => ({ t: 'put', k: `key${i}`, v: value(i, round) });
  const steps: Step[] = [{ t: 'open' }];
  for (let i = 0; i < 160; i += 8) steps.push({ t: 'write', units: [{ t: 'many', entries: Array.from({ length: 8 }, (_, j) => put(i + j, 1)) }] });
  steps.push({ t: 'flush' });
  for (let i = 0; i < 160; i += 5) steps.push({ t: 'write', units: [put(i, 2), { t: 'del', k: `key${i + 1}` }] });
  steps.push({ t: 'flush' }, { t: 'compactBegin' });
  for (let round = 0; round < 12; round++) {
    steps.push({ t: 'compactStep' });
    const k = (round * 53) % 160;
    const units: Unit[] =
      round % 4 === 0
        ? [put(k, 3), { t: 'del', k: `key${(k + 7) % 160}` }]
        : round % 4 === 1
          ? [{ t: 'tx', ops: [put(k, 3), { t: 'del', k: `key${(k + 2) % 160}` }, put(200 + round, 3)] }]
          : round % 4 === 2
            ? [{ t: 'many', entries: [put(k, 4), put(300 + round, 4)] }]
            : [put(400 + round, 3)];
    steps.push({ t: 'write', units });
    if (round % 3 === 2) steps.push({ t: 'flush' });
  }
  steps.push({ t: 'compactFinish' });
  for (let i = 0; i < 6; i++) steps.push({ t: 'write', units: [put(500 + i, 5), put(i * 3, 5)] });
  steps.push({ t: 'flush' }, { t: 'close' });
  return steps;
}
