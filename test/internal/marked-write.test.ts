import { describe, expect, it } from 'vitest';
import type { FlushDone } from '../../dist/src/writer/group-flush.js';
import { applyMarkedWrite, type MarkedWriteOutcome } from '../../dist/src/writer/marked-write.js';

/**
 * A fake engine: appends record "bytes" (one byte = one record here), counts
 * syncs, and can fail the n-th sync, after which it refuses appends the way
 * the real engine does once a failed fdatasync has poisoned it.
 */
function fakeEngine(opts: { failSync?: number; deferSyncs?: boolean } = {}) {
  const log: string[] = [];
  const deferred: FlushDone[] = [];
  let syncs = 0;
  let poisoned: Error | undefined;
  const steps = {
    append(bytes: Uint8Array): Uint8Array {
      if (poisoned) throw poisoned;
      log.push(`append ${bytes.length}`);
      return new Uint8Array(bytes.length).fill(1);
    },
    requestFlush(done: FlushDone): void {
      if (opts.deferSyncs) {
        deferred.push(done);
        return;
      }
      syncs++;
      log.push('sync');
      if (syncs === opts.failSync) {
        poisoned = Object.assign(new Error('fdatasync EIO'), { code: 'EIO' });
        done(poisoned);
      } else done();
    },
  };
  return { steps, log, deferred };
}

function run(marks: number[], policy: 'onEachFlush' | 'group' | 'writeThrough', engine: ReturnType<typeof fakeEngine>, bytes = 8): MarkedWriteOutcome[] {
  const outcomes: MarkedWriteOutcome[] = [];
  applyMarkedWrite(new Uint8Array(bytes), marks, policy, engine.steps, (o) => outcomes.push(o));
  return outcomes;
}

describe('a write batch carrying flush marks', () => {
  it('onEachFlush: each segment is appended, then synced, before the next (one sync per mark)', () => {
    const engine = fakeEngine();
    const [outcome] = run([2, 5, 8], 'onEachFlush', engine);
    expect(engine.log).toEqual(['append 2', 'sync', 'append 3', 'sync', 'append 3', 'sync']);
    expect(outcome!.existed).toHaveLength(8);
    expect(outcome!.syncErrors).toBeUndefined();
    expect(outcome!.appliedBytes).toBeUndefined();
  });

  it('group: one append for the whole batch, then a flush request per mark; the reply waits for all of them', () => {
    const engine = fakeEngine({ deferSyncs: true });
    const outcomes = run([2, 5], 'group', engine);
    expect(engine.log).toEqual(['append 8']);
    expect(engine.deferred).toHaveLength(2);
    expect(outcomes).toHaveLength(0);
    engine.deferred[0]!();
    expect(outcomes).toHaveLength(0);
    engine.deferred[1]!();
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]!.existed).toHaveLength(8);
  });

  it('onEachFlush: a failed sync fails its mark, and the segments after it are refused with how far the batch got', () => {
    const engine = fakeEngine({ failSync: 2 });
    const [outcome] = run([2, 5, 8], 'onEachFlush', engine);
    expect(engine.log).toEqual(['append 2', 'sync', 'append 3', 'sync']);
    expect(outcome!.syncErrors?.[0]).toBeNull();
    expect(outcome!.syncErrors?.[1]).toMatchObject({ message: expect.stringContaining('EIO') });
    expect(outcome!.appliedBytes).toBe(5);
    expect(outcome!.writeError).toMatchObject({ message: expect.stringContaining('EIO') });
    expect(outcome!.existed).toHaveLength(5);
  });

  it('a batch refused before anything was applied throws (the caller replies with the plain error)', () => {
    const engine = fakeEngine({ failSync: 1 });
    run([1], 'onEachFlush', engine); // poisons it
    expect(() => run([2], 'group', engine)).toThrow('EIO');
  });
});
