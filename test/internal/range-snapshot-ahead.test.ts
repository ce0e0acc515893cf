/**
 * A range snapshot taken while the writer sits between posting a buffer set and
 * storing its generation number (rule R4: post first, store second). The
 * thread then holds a set one newer than GENERATION says; that set is the
 * newest, so the capture must use it. It used to demand equality and spin
 * until the writer thread ran again: a writer descheduled there on a loaded
 * machine made `rangeIter()` fail with "could not take a consistent snapshot".
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { BroadcastChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { nodeFileIO } from '../../dist/src/log/file-io.js';
import { captureSnapshot } from '../../dist/src/range/snapshot.js';
import { Ctl32 } from '../../dist/src/shm/layout.js';
import { createControlBlock, SharedView } from '../../dist/src/shm/shared-view.js';
import { WriterEngine } from '../../dist/src/writer/engine.js';
import { tempDirs } from '../helpers/common.js';

describe('range snapshot while a buffer set is posted but its number not yet stored', () => {
  const dirs = tempDirs('emdb-snap-ahead-');

  it('captures the newest set it holds instead of failing', async () => {
    const control = createControlBlock();
    const engine = new WriterEngine({
      path: path.join(dirs(), 'a.emdb'),
      flushPolicy: { kind: 'onEachFlush' },
      io: nodeFileIO,
      control,
      publish: () => undefined,
      rangeScans: { maxAgeMs: 0, maxPinnedBytes: 0 },
    });
    engine.open();
    const channelName = `emdb-snap-ahead:${randomUUID()}`;
    const view = new SharedView(control, channelName, engine.currentBuffers());
    const writerSide = new BroadcastChannel(channelName);
    try {
      const stored = Atomics.load(new Int32Array(control), Ctl32.GENERATION);
      expect(view.generation).toBe(stored);
      // The writer's half-done publish: the next set posted, GENERATION not yet incremented.
      // The thread's event loop hands it the set (the view's onmessage), as between two scans.
      writerSide.postMessage({ ...engine.currentBuffers(), generation: stored + 1 });
      for (let i = 0; i < 200 && view.generation === stored; i++) await new Promise((r) => setTimeout(r, 5));
      expect(view.generation).toBe(stored + 1);
      const snapshot = captureSnapshot(view);
      expect(snapshot.generation).toBe(stored + 1);
      // A newer number stored than the set held (a set not yet taken) is still refused: nothing to use.
      Atomics.store(new Int32Array(control), Ctl32.GENERATION, stored + 2);
      expect(() => captureSnapshot(view)).toThrow(/consistent snapshot/);
    } finally {
      writerSide.close();
      view.close();
      engine.close();
    }
  });
});
