/** CompactionMoves (writer/compaction-moves.ts): where a compaction moved the old log's records. */
import { describe, expect, it } from 'vitest';
import { CompactionMoves } from '../../src/writer/compaction-moves.js';

describe('CompactionMoves', () => {
  it('maps a record inside a run by its offset, joins adjacent runs, and answers -1 for records it did not copy', () => {
    const moves = new CompactionMoves();
    moves.add(1000, 100, 50); // a run of records [1000, 1050) → [100, 150)
    moves.add(1050, 150, 30); // adjacent in both logs: joins the run
    moves.add(2000, 180, 40); // after a dead gap
    moves.add(2 ** 33, 220, 64); // LSNs past 2^32
    expect(moves.newLsn(1000)).toBe(100);
    expect(moves.newLsn(1060)).toBe(160);
    expect(moves.newLsn(1079)).toBe(179);
    expect(moves.newLsn(1080)).toBe(-1);
    expect(moves.newLsn(999)).toBe(-1);
    expect(moves.newLsn(2039)).toBe(219);
    expect(moves.newLsn(2 ** 33 + 32)).toBe(252);
    expect(moves.newLsn(2 ** 33 + 64)).toBe(-1);
    expect(moves.newLsn(-1)).toBe(-1);
  });

  it('agrees with a per-record model over thousands of runs', () => {
    const moves = new CompactionMoves();
    const model = new Map<number, number>();
    let from = 4096;
    let to = 4096;
    for (let i = 0; i < 5000; i++) {
      const len = 32 + ((i * 53) % 200);
      if (i % 3 !== 0) {
        moves.add(from, to, len);
        model.set(from, to);
        to += len;
      }
      from += len;
    }
    for (const [old, moved] of model) expect(moves.newLsn(old)).toBe(moved);
    let dropped = 0;
    from = 4096;
    for (let i = 0; i < 5000; i++) {
      if (i % 3 === 0) {
        expect(moves.newLsn(from)).toBe(-1);
        dropped++;
      }
      from += 32 + ((i * 53) % 200);
    }
    expect(dropped).toBeGreaterThan(1000);
  });
});
