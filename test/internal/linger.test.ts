/**
 * Linger (src/writer/linger.ts): when the writer polls for the next request
 * instead of going back to its event loop, and the bounds that keep timers,
 * attached threads and group commit from being held back.
 */
import { describe, expect, it } from 'vitest';
import { Linger, LINGER_CHAIN } from '../../dist/src/writer/linger.js';
import type { WriterRequest } from '../../dist/src/protocol.js';

const durableWrite: WriterRequest = { t: 'write', id: 1, count: 1, bytes: 64, existed: true, marks: [64] };
const plainWrite: WriterRequest = { t: 'write', id: 2, count: 1, bytes: 64, existed: true };
const flush: WriterRequest = { t: 'flush', id: 3 };
const stats: WriterRequest = { t: 'stats', id: 4 };

describe('linger', () => {
  it('lingers after a durable write or a flush, not after a plain write or another request', () => {
    const l = new Linger('onEachFlush', 100);
    for (const [req, due] of [[durableWrite, true], [flush, true], [plainWrite, false], [stats, false]] as const) {
      l.saw(req);
      expect(l.due(), req.t).toBe(due);
    }
  });

  it(`a chain of polled durable requests ends after ${LINGER_CHAIN}, so the event loop gets a turn`, () => {
    const l = new Linger('writeThrough', 100);
    l.saw(durableWrite);
    expect(l.due()).toBe(true);
    let chained = 0;
    for (let i = 0; i < 100; i++) {
      l.saw(flush);
      if (!l.again()) break;
      chained++;
    }
    expect(chained).toBe(LINGER_CHAIN - 1);
    // The next message from the event loop starts a new chain.
    l.saw(flush);
    expect(l.due()).toBe(true);
    l.saw(flush);
    expect(l.again()).toBe(true);
  });

  it('a polled request that is not durable ends the chain', () => {
    const l = new Linger('onEachFlush', 100);
    l.saw(flush);
    l.due();
    l.saw(stats);
    expect(l.again()).toBe(false);
  });

  it('never under the group policy (its leader waits through the event loop) or with a 0 µs window', () => {
    const group = new Linger('group', 100);
    group.saw(flush);
    expect(group.due()).toBe(false);
    const off = new Linger('onEachFlush', 0);
    off.saw(flush);
    expect(off.due()).toBe(false);
  });

  it('poll returns what arrives, or undefined once the window has passed', () => {
    const l = new Linger('onEachFlush', 2000);
    let calls = 0;
    expect(l.poll(() => (++calls === 3 ? 'msg' : undefined))).toBe('msg');
    expect(calls).toBe(3);
    const started = performance.now();
    expect(new Linger('onEachFlush', 2000).poll(() => undefined)).toBeUndefined();
    expect(performance.now() - started).toBeGreaterThanOrEqual(2);
  });
});
