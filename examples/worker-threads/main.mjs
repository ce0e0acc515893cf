// Producers and readers in worker threads sharing one emdb-js database through db.handle().
//
//   node main.mjs [--producers 2] [--readers 2] [--records 50000] [--db PATH]
//
// The main thread opens the database and hands each worker a handle; every worker calls
// Emdb.attach(handle): producers write through the one writer, readers probe the shared index
// with getSync() on their own thread, seeing the producers' writes as they land.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { Emdb } from 'emdb-js';

const { values: o } = parseArgs({
  options: {
    producers: { type: 'string', default: '2' },
    readers: { type: 'string', default: '2' },
    records: { type: 'string', default: '50000' },
    db: { type: 'string' },
  },
});
const producers = Number(o.producers);
const readers = Number(o.readers);
const records = Number(o.records);
const dir = o.db ? undefined : fs.mkdtempSync(path.join(os.tmpdir(), 'emdb-worker-threads-'));
const file = o.db ?? path.join(dir, 'example.emdb');

const db = await Emdb.open(file);
const handle = db.handle();
const run = (role, id) => {
  const worker = new Worker(new URL('./worker.mjs', import.meta.url), { workerData: { role, id, handle, producers, records } });
  const done = new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return { worker, done };
};

const started = performance.now();
const readerRuns = Array.from({ length: readers }, (_, i) => run('reader', i));
const producerRuns = Array.from({ length: producers }, (_, i) => run('producer', i));
const written = await Promise.all(producerRuns.map((r) => r.done));
const writeMs = performance.now() - started;
// Producers are done: tell the readers to finish their pass and report.
for (const r of readerRuns) r.worker.postMessage('stop');
const read = await Promise.all(readerRuns.map((r) => r.done));

const total = written.reduce((a, w) => a + w.written, 0);
console.log(`producers: ${producers} threads wrote ${total.toLocaleString('en-US')} records in ${writeMs.toFixed(0)} ms`);
for (const r of read) {
  console.log(`reader ${r.id}: ${r.reads.toLocaleString('en-US')} getSync reads, ${r.hits.toLocaleString('en-US')} found, final pass saw ${r.finalHits.toLocaleString('en-US')}/${total.toLocaleString('en-US')}`);
}
console.log(`db.len(): ${(await db.len()).toLocaleString('en-US')}`);
await db.close();
if (dir) fs.rmSync(dir, { recursive: true, force: true });
