import { describe, expect, it } from 'vitest';
import { GroupFlusher, type FlushDone } from '../../dist/src/writer/group-flush.js';
import { applyMarkedWrite, type MarkedWriteOutcome } from '../../dist/src/writer/marked-write.js';
import type { FlushPolicy } from '../../dist/src/types.js';

/** A fake engine whose flush requests wait until the test settles them (deferred[i]()). */
function deferringEngine() {
  const log: string[] = [];
  const deferred: FlushDone[] = [];
  const steps = {
    append(bytes: Uint8Array): Uint8Array {
      log.push(`append ${bytes.length}`);
      return new Uint8Array(bytes.length).fill(1);
    },
    requestFlush: (done: FlushDone) => void deferred.push(done),
  };
  return { steps, log, deferred };
}

/**
 * The real GroupFlusher over a fake engine that knows whether anything is
 * unsynced and stays poisoned after a failed sync (needsSync true, every later
 * sync throws), as LogWriter does.
 */
function flushedEngine(policy: FlushPolicy, opts: { failSync?: number } = {}) {
  const log: string[] = [];
  let unsynced = false;
  let syncs = 0;
  let poisoned: Error | undefined;
  const flusher = new GroupFlusher(
    policy,
    () => {
      if (poisoned) throw poisoned;
      syncs++;
      log.push('sync');
      if (syncs === opts.failSync) {
        poisoned = Object.assign(new Error('fdatasync EIO'), { code: 'EIO' });
        throw poisoned;
      }
      unsynced = false;
    },
    () => poisoned !== undefined || unsynced,
  );
  const steps = {
    append(bytes: Uint8Array): Uint8Array {
      if (poisoned) throw poisoned;
      unsynced = true;
      log.push(`append ${bytes.length}`);
      return new Uint8Array(bytes.length).fill(1);
    },
    requestFlush: (done: FlushDone) => flusher.request(done),
  };
  return { steps, log };
}

function run(marks: number[], engine: { steps: Parameters<typeof applyMarkedWrite>[2] }, bytes = 8): MarkedWriteOutcome[] {
  const outcomes: MarkedWriteOutcome[] = [];
  applyMarkedWrite(new Uint8Array(bytes), marks, engine.steps, (o) => outcomes.push(o));
  return outcomes;
}

describe('a write batch carrying flush marks', () => {
  it('onEachFlush: one append for the whole batch and one sync for all its marks (the later marks find nothing unsynced)', () => {
    const engine = flushedEngine({ kind: 'onEachFlush' });
    const outcomes = run([2, 5, 8], engine);
    expect(engine.log).toEqual(['append 8', 'sync']);
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]!.existed).toHaveLength(8);
    expect(outcomes[0]!.syncErrors).toBeUndefined();
  });

  it('group: one append for the whole batch, then a flush request per mark; the reply waits for all of them', () => {
    const engine = deferringEngine();
    const outcomes = run([2, 5], engine);
    expect(engine.log).toEqual(['append 8']);
    expect(engine.deferred).toHaveLength(2);
    expect(outcomes).toHaveLength(0);
    engine.deferred[0]!();
    expect(outcomes).toHaveLength(0);
    engine.deferred[1]!();
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]!.existed).toHaveLength(8);
  });

  it('group with maxBatch reached by the marks: one sync for all of them, at once', () => {
    const engine = flushedEngine({ kind: 'group', maxWaitMs: 50, maxBatch: 3 });
    const outcomes = run([2, 5, 8], engine);
    expect(engine.log).toEqual(['append 8', 'sync']);
    expect(outcomes).toHaveLength(1);
  });

  it('onEachFlush: a failed sync fails every mark of the batch, never only the first (the engine is poisoned)', () => {
    const engine = flushedEngine({ kind: 'onEachFlush' }, { failSync: 1 });
    const [outcome] = run([2, 5, 8], engine);
    expect(engine.log).toEqual(['append 8', 'sync']);
    expect(outcome!.syncErrors).toHaveLength(3);
    for (const e of outcome!.syncErrors!) expect(e).toMatchObject({ message: expect.stringContaining('EIO') });
  });

  it('a batch refused before anything was applied throws (the caller replies with the plain error)', () => {
    const engine = flushedEngine({ kind: 'onEachFlush' }, { failSync: 1 });
    run([1], engine); // poisons it
    expect(() => run([2], engine)).toThrow('EIO');
  });
});
