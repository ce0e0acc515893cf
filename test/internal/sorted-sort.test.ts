/**
 * The tail sort (shm/sorted-sort.ts: native sorts of packed 3-byte key slices,
 * refined group by group) and the one-source run copy must order exactly as
 * the byte comparison does: entries by (namespace, key bytes unsigned), the
 * shorter of two keys with equal bytes first, the newest of equal keys kept.
 * Checked against a plain comparator sort on tails built to hit every corner:
 * empty and short keys, keys that differ only past many equal slices or only
 * by length ("a" < "a\0"), zero bytes, namespace ids past 2^27 (the
 * comparator fallback), removals, and the incremental re-sort readers do.
 * Negative control: a model that keeps the oldest of equal keys disagrees.
 */
import { describe, expect, it } from 'vitest';
import { mergeToRun, runSource, sortTail, entryLsn, entryKeyLen, entryNs, type SortedSource } from '../../dist/src/shm/sorted-run.js';
import { SortedIndexWriter } from '../../dist/src/shm/sorted-writer.js';
import { SORTED_ENTRY_HEADER_BYTES, SORTED_TAIL_HEADER_BYTES, sortedEntryBytes } from '../../dist/src/shm/layout.js';
import { rng } from '../helpers/rng.js';

const LIMITS = { maxAgeMs: 60_000, maxPinnedBytes: 1 << 30 };

interface Tail {
  u8: Uint8Array;
  dv: DataView;
  count: number;
}

function tailOf(w: SortedIndexWriter): Tail {
  const t = w as unknown as { u8: Uint8Array; dv: DataView };
  return { u8: t.u8, dv: t.dv, count: w.tailEntries };
}

function describeEntry(src: { u8: Uint8Array; dv: DataView }, off: number): string {
  const len = entryKeyLen(src.dv, off);
  const key = Buffer.from(src.u8.subarray(off + SORTED_ENTRY_HEADER_BYTES, off + SORTED_ENTRY_HEADER_BYTES + len)).toString('hex');
  return `${entryNs(src.dv, off)}/${key}=${entryLsn(src.dv, off)}`;
}

function listed(src: SortedSource): string[] {
  return Array.from(src.offs.subarray(0, src.n), (off) => describeEntry(src, off));
}

/** The model: every tail entry, stably sorted by (ns, key) with Buffer.compare, one per key (`keep` of a run of equals). */
function model(t: Tail, keep: 'newest' | 'oldest'): string[] {
  const all: { ns: number; key: Buffer; off: number }[] = [];
  let off = SORTED_TAIL_HEADER_BYTES;
  for (let i = 0; i < t.count; i++) {
    const len = entryKeyLen(t.dv, off);
    all.push({ ns: entryNs(t.dv, off), key: Buffer.from(t.u8.subarray(off + SORTED_ENTRY_HEADER_BYTES, off + SORTED_ENTRY_HEADER_BYTES + len)), off });
    off += sortedEntryBytes(len);
  }
  all.sort((a, b) => a.ns - b.ns || Buffer.compare(a.key, b.key));
  const out: string[] = [];
  for (let i = 0; i < all.length; i++) {
    const same = (j: number): boolean => j >= 0 && j < all.length && all[j]!.ns === all[i]!.ns && all[j]!.key.equals(all[i]!.key);
    if (keep === 'newest' ? same(i + 1) : same(i - 1)) continue;
    out.push(describeEntry(t, all[i]!.off));
  }
  return out;
}

function randomTail(seed: number, n: number): SortedIndexWriter {
  const rnd = rng(seed);
  const w = new SortedIndexWriter([], LIMITS);
  const alphabet = [0, 1, 0x7f, 0x80, 0xff].slice(0, 1 + Math.floor(rnd() * 5));
  const maxLen = Math.floor(rnd() * 14);
  const namespaces = rnd() < 0.3 ? [0, 1, 0x800_0000, 0xffff_fffe] : rnd() < 0.5 ? [3] : [0, 2, 5];
  const sharedPrefix = rnd() < 0.3 ? Buffer.from('user:00000') : Buffer.alloc(0);
  for (let i = 0; i < n; i++) {
    const len = Math.floor(rnd() * (maxLen + 1));
    const body = Buffer.from(Array.from({ length: len }, () => alphabet[Math.floor(rnd() * alphabet.length)]!));
    const key = Buffer.concat([sharedPrefix, body]);
    const ns = namespaces[Math.floor(rnd() * namespaces.length)]!;
    if (rnd() < 0.2) w.remove(ns, key, 0, key.length);
    else w.put(ns, key, 0, key.length, i * 8);
  }
  return w;
}

describe('tail sort', () => {
  it('orders and de-duplicates like a comparator sort, in one go and incrementally', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const n = seed % 25 === 0 ? 20_000 : 1 + (seed % 400);
      const w = randomTail(seed, n);
      const t = tailOf(w);
      const want = model(t, 'newest');
      const once = sortTail(t.u8, t.dv, t.count);
      expect(listed(once.src), `seed ${seed}`).toEqual(want);
      const cut = Math.floor(n / 3);
      const first = sortTail(t.u8, t.dv, cut);
      const again = sortTail(t.u8, t.dv, t.count, { count: cut, ...first });
      expect(listed(again.src), `seed ${seed} incremental`).toEqual(want);
      // One source becomes a run by a straight copy: same entries, removals dropped on request.
      expect(listed(runSource(mergeToRun([once.src], false)))).toEqual(want);
      expect(listed(runSource(mergeToRun([once.src], true)))).toEqual(want.filter((e) => !e.endsWith('=-1')));
    }
  });

  it('keys equal in their first bytes and differing by length or in late bytes', () => {
    const w = new SortedIndexWriter([], LIMITS);
    const keys = ['', '\0', 'a', 'a\0', 'a\0\0', 'a\0\0\0', 'abc', 'abcd', 'abc\0', 'abcdefghi', 'abcdefghj', 'abcdefgh', 'abcdefghi', 'ab'];
    keys.forEach((k, i) => w.put(1, Buffer.from(k), 0, k.length, i));
    const t = tailOf(w);
    const got = listed(sortTail(t.u8, t.dv, t.count).src);
    expect(got).toEqual(model(t, 'newest'));
    expect(got.map((e) => Buffer.from(e.split('/')[1]!.split('=')[0]!, 'hex').toString())).toEqual(
      ['', '\0', 'a', 'a\0', 'a\0\0', 'a\0\0\0', 'ab', 'abc', 'abc\0', 'abcd', 'abcdefgh', 'abcdefghi', 'abcdefghj'],
    );
    // The later 'abcdefghi' (LSN 12) wins over the earlier one (LSN 9).
    expect(got).toContain(`1/${Buffer.from('abcdefghi').toString('hex')}=12`);
  });

  it('negative control: keeping the oldest of equal keys is caught', () => {
    const w = randomTail(7, 400);
    const t = tailOf(w);
    expect(listed(sortTail(t.u8, t.dv, t.count).src)).not.toEqual(model(t, 'oldest'));
  });
});
