// A producer or a reader of main.mjs, on its own thread.
import { parentPort, workerData } from 'node:worker_threads';
import { Emdb } from 'emdb-js';

const { role, id, handle, producers, records } = workerData;
const db = await Emdb.attach(handle);
const keyOf = (p, i) => `p${p}:${String(i).padStart(8, '0')}`;

if (role === 'producer') {
  // insertMany frames records into multi-megabyte chunks: one message to the writer per chunk.
  const batch = 1000;
  let written = 0;
  for (let i = 0; i < records; i += batch) {
    const entries = [];
    for (let j = i; j < Math.min(records, i + batch); j++) entries.push([keyOf(id, j), `value ${j} from producer ${id}`]);
    written += await db.insertMany(entries);
  }
  await db.flush();
  await db.close();
  parentPort.postMessage({ id, written });
} else {
  let stop = false;
  parentPort.once('message', () => (stop = true));
  let reads = 0;
  let hits = 0;
  let x = (id + 1) * 2654435761;
  // Random probes while the producers write; yield to the event loop now and then to hear 'stop'.
  while (!stop) {
    for (let n = 0; n < 10_000; n++) {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
      const r = x >>> 0;
      if (db.getSync(keyOf(r % producers, (r >>> 8) % records)) !== undefined) hits++;
      reads++;
    }
    await new Promise((r) => setImmediate(r));
  }
  // After the producers finished, every key must be visible on this thread.
  let finalHits = 0;
  for (let p = 0; p < producers; p++) for (let i = 0; i < records; i++) if (db.getSync(keyOf(p, i)) !== undefined) finalHits++;
  await db.close();
  parentPort.postMessage({ id, reads, hits, finalHits });
}
