/** Shared helpers of the encryption suites on the simulated file system. */
import type { EncryptionSpec } from '../../dist/src/crypto/keys.js';
import type { FileIO } from '../../dist/src/log/file-io.js';
import { IndexView } from '../../dist/src/shm/index-table.js';
import { scanSlots, unpackScan } from '../../dist/src/shm/scan.js';
import { createControlBlock } from '../../dist/src/shm/shared-view.js';
import { WriterEngine } from '../../dist/src/writer/engine.js';
import { DB, openOrRelease } from './sim/engine-harness.js';

export function openEncrypted(io: FileIO, encryption: EncryptionSpec | undefined): WriterEngine {
  const engine = new WriterEngine({
    path: DB,
    flushPolicy: { kind: 'onEachFlush' },
    io,
    control: createControlBlock(),
    publish: () => undefined,
    ...(encryption ? { encryption } : {}),
  });
  return openOrRelease(engine);
}

/** Every live key → value of the default namespace, read from the shared buffers as readers do. */
export function contents(engine: WriterEngine): Map<string, string> {
  const set = engine.currentBuffers();
  const index = new IndexView(set.index);
  const { packed } = scanSlots(set, 0, 0, index.capacity, true, Date.now());
  const out = new Map<string, string>();
  for (const [k, v] of unpackScan(packed)) out.set(k.toString('latin1'), v.toString('latin1'));
  return out;
}
