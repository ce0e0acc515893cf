import { afterEach, describe, expect, it, vi } from 'vitest';
import type { FlushPolicy } from '../../dist/src/types.js';
import { GroupFlusher } from '../../dist/src/writer/group-flush.js';

/**
 * The group policy's follower window, driven with fake timers and a clock the
 * test sets by hand (fractions of a millisecond, as performance.now gives).
 */
function flusher(policy: FlushPolicy): { f: GroupFlusher; at(ms: number): void; request(): void; syncs(): number; answered(): number } {
  let now = 0;
  let syncs = 0;
  let answered = 0;
  const f = new GroupFlusher(policy, () => void syncs++, () => true, () => now);
  return {
    f,
    at: (ms) => void (now = ms),
    request: () => f.request(() => void answered++),
    syncs: () => syncs,
    answered: () => answered,
  };
}

describe('group flush follower window', () => {
  afterEach(() => void vi.useRealTimers());

  it('after a burst, a lone flush waits one short window at most, then syncs at once', () => {
    vi.useFakeTimers();
    const g = flusher({ kind: 'group', maxWaitMs: 1000, maxBatch: 8 });
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 8; i++) g.request();
    }
    expect(g.syncs()).toBe(4); // full batches of 8
    g.request();
    vi.advanceTimersByTime(0);
    expect(g.answered()).toBe(32); // waits for the 7 the burst taught it to expect
    vi.advanceTimersByTime(1);
    expect(g.answered()).toBe(33); // ... for 1 ms (the burst gathered at once), not 1000
    expect(g.f.timeouts).toBe(1);
    for (let i = 0; i < 5; i++) {
      g.request();
      vi.advanceTimersByTime(0);
      expect(g.answered()).toBe(34 + i); // the estimate was reset: no more waiting
    }
    expect(g.f.timeouts).toBe(1);
  });

  it('grows with the time followers really take to gather, capped by maxWaitMs', () => {
    vi.useFakeTimers();
    const g = flusher({ kind: 'group', maxWaitMs: 2, maxBatch: 8 });
    for (let i = 0; i < 3; i++) g.request();
    vi.advanceTimersByTime(0);
    // Three producers whose followers come 0.9 ms after the leader: batches of 3 gathered over 0.9 ms.
    for (let round = 0; round < 2; round++) {
      g.at(round * 10);
      g.request();
      vi.advanceTimersByTime(0);
      g.at(round * 10 + 0.9);
      g.request();
      g.request();
      vi.advanceTimersByTime(0);
    }
    expect(g.syncs()).toBe(3);
    expect(g.f.timeouts).toBe(0);
    // The window is now 2 ms (1.8, rounded up to whole ms): a follower 1.5 ms late still joins.
    g.at(20);
    g.request();
    vi.advanceTimersByTime(1);
    g.at(21.5);
    g.request();
    g.request();
    vi.advanceTimersByTime(0);
    expect(g.syncs()).toBe(4);
    expect(g.f.timeouts).toBe(0);
    // Followers that gathered over 1.5 ms would make it 3 ms; maxWaitMs caps it: a missing follower costs 2 ms.
    g.at(30);
    g.request();
    vi.advanceTimersByTime(1);
    expect(g.syncs()).toBe(4);
    vi.advanceTimersByTime(1);
    expect(g.syncs()).toBe(5);
    expect(g.f.timeouts).toBe(1);
  });

  it('a batch that falls only a little short keeps the size estimate (late members of a steady group)', () => {
    vi.useFakeTimers();
    const g = flusher({ kind: 'group', maxWaitMs: 50, maxBatch: 8 });
    for (let i = 0; i < 6; i++) g.request();
    vi.advanceTimersByTime(0);
    expect(g.syncs()).toBe(1);
    // 4 of the expected 6 come: the window runs out, but 6 is still expected.
    for (let i = 0; i < 4; i++) g.request();
    vi.advanceTimersByTime(1);
    expect(g.syncs()).toBe(2);
    for (let i = 0; i < 5; i++) g.request();
    vi.advanceTimersByTime(0);
    expect(g.syncs()).toBe(2); // still waiting for the sixth
    g.request();
    vi.advanceTimersByTime(0);
    expect(g.syncs()).toBe(3);
  });
});
