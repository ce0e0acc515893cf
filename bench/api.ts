/**
 * `npm run bench:api`: the API-level rows of issue 5, emdb-js and peers in the
 * same run: transaction commit of 1,000 records, iteration rate, and getSync
 * from 2 attached user worker threads in parallel. Prints a Markdown table.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { ClassicLevel } from 'classic-level';
import { open as openLmdb } from 'lmdb';
import { Emdb } from '../src/index.js';
import { keyAt, localKeys, makeKeys, valueFor } from './workload.js';

const recordsArg = process.argv.indexOf('--records');
const RECORDS = recordsArg > 0 ? Number(process.argv[recordsArg + 1]) : 200_000;
const TX_ROUNDS = 50;
const TX_SIZE = 1000;
const THREAD_READS = 500_000;
const SEED = 0x5eed_cafe;

const keys = localKeys(makeKeys(SEED, RECORDS));
const entries = (): [Buffer, Buffer][] => Array.from({ length: RECORDS }, (_, i) => [keyAt(keys, i), valueFor(SEED, i)]);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emdb-bench-api-'));
const rate = (n: number, ms: number): string => `${Math.round(n / (ms / 1000)).toLocaleString('en-US')} /s`;

async function emdbRows(): Promise<Record<string, string>> {
  const db = await Emdb.open(path.join(dir, 'e.emdb'), { readers: 2 });
  await db.insertMany(entries());
  await db.flush();
  let t = performance.now();
  for (let r = 0; r < TX_ROUNDS; r++) {
    await db.transaction((tx) => {
      for (let i = 0; i < TX_SIZE; i++) tx.insert(keyAt(keys, (r * TX_SIZE + i) % RECORDS), valueFor(SEED + 1, i));
    });
  }
  const txMs = (performance.now() - t) / TX_ROUNDS;
  t = performance.now();
  for (let r = 0; r < TX_ROUNDS; r++) {
    await db.transaction((tx) => {
      for (let i = 0; i < TX_SIZE; i++) tx.insert(keyAt(keys, (r * TX_SIZE + i) % RECORDS), valueFor(SEED + 2, i));
    });
    await db.flush();
  }
  const txDurableMs = (performance.now() - t) / TX_ROUNDS;
  t = performance.now();
  let n = 0;
  for await (const _entry of db.iter()) n++;
  const iterMs = performance.now() - t;
  if (n !== RECORDS) throw new Error(`iter yielded ${n} of ${RECORDS}`);
  const threads = await attachedReads(db.handle());
  await db.close();
  return {
    tx: `${txMs.toFixed(2)} ms`,
    txDurable: `${txDurableMs.toFixed(2)} ms`,
    iter: rate(RECORDS, iterMs),
    threads: rate(THREAD_READS * 2, threads),
  };
}

/** Two user workers attached to the same database, getSync in parallel; wall time of both. */
async function attachedReads(handle: unknown): Promise<number> {
  const src = `
    const { parentPort, workerData } = require('node:worker_threads');
    import(workerData.module).then(async ({ Emdb }) => {
      const db = await Emdb.attach(workerData.handle);
      const keys = Buffer.from(workerData.keys);
      let x = workerData.seed, found = 0;
      parentPort.postMessage('ready');
      await new Promise((r) => parentPort.once('message', r));
      for (let i = 0; i < workerData.reads; i++) {
        x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
        const k = (x >>> 0) % workerData.count;
        if (db.getSync(keys.subarray(k * 24, k * 24 + 24)) !== undefined) found++;
      }
      await db.close();
      parentPort.postMessage(found);
    });`;
  const module = new URL('../src/index.js', import.meta.url).href;
  const workers = [1, 2].map((s) => new Worker(src, { eval: true, workerData: { module, handle, keys: keys.buffer.slice(keys.byteOffset, keys.byteOffset + keys.length), count: RECORDS, reads: THREAD_READS, seed: s * 7919 } }));
  await Promise.all(workers.map((w) => new Promise((r) => w.once('message', r))));
  const t = performance.now();
  workers.forEach((w) => w.postMessage('go'));
  const found = await Promise.all(workers.map((w) => new Promise<number>((r) => w.once('message', r))));
  const ms = performance.now() - t;
  await Promise.all(workers.map((w) => w.terminate()));
  if (found.some((f) => f !== THREAD_READS)) throw new Error('attached reads missed keys');
  return ms;
}

async function lmdbRows(): Promise<Record<string, string>> {
  const db = openLmdb({ path: path.join(dir, 'l.mdb'), keyEncoding: 'binary', encoding: 'binary' });
  db.transactionSync(() => {
    for (const [k, v] of entries()) db.putSync(k, v);
  });
  let t = performance.now();
  for (let r = 0; r < TX_ROUNDS; r++) {
    db.transactionSync(() => {
      for (let i = 0; i < TX_SIZE; i++) db.putSync(keyAt(keys, (r * TX_SIZE + i) % RECORDS), valueFor(SEED + 1, i));
    });
  }
  const txMs = (performance.now() - t) / TX_ROUNDS;
  t = performance.now();
  let n = 0;
  for (const _entry of db.getRange()) n++;
  const iterMs = performance.now() - t;
  await db.close();
  return { tx: 'see durable', txDurable: `${txMs.toFixed(2)} ms`, iter: rate(n, iterMs), threads: 'in the 2-thread row of the main table' };
}

async function levelRows(): Promise<Record<string, string>> {
  const db = new ClassicLevel<Buffer, Buffer>(path.join(dir, 'c'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  const all = entries();
  for (let i = 0; i < all.length; i += 10_000) await db.batch(all.slice(i, i + 10_000).map(([key, value]) => ({ type: 'put' as const, key, value })));
  let t = performance.now();
  for (let r = 0; r < TX_ROUNDS; r++) {
    const ops = Array.from({ length: TX_SIZE }, (_, i) => ({ type: 'put' as const, key: keyAt(keys, (r * TX_SIZE + i) % RECORDS), value: valueFor(SEED + 1, i) }));
    await db.batch(ops);
  }
  const txMs = (performance.now() - t) / TX_ROUNDS;
  t = performance.now();
  for (let r = 0; r < TX_ROUNDS; r++) {
    const ops = Array.from({ length: TX_SIZE }, (_, i) => ({ type: 'put' as const, key: keyAt(keys, (r * TX_SIZE + i) % RECORDS), value: valueFor(SEED + 2, i) }));
    await db.batch(ops, { sync: true });
  }
  const txDurableMs = (performance.now() - t) / TX_ROUNDS;
  t = performance.now();
  let n = 0;
  for await (const _entry of db.iterator()) n++;
  const iterMs = performance.now() - t;
  await db.close();
  return { tx: `${txMs.toFixed(2)} ms`, txDurable: `${txDurableMs.toFixed(2)} ms`, iter: rate(n, iterMs), threads: 'in the 2-thread row of the main table' };
}

async function main(): Promise<void> {
  const e = await emdbRows();
  const l = await lmdbRows();
  const c = await levelRows();
  console.log(`emdb-js API bench — ${RECORDS.toLocaleString('en-US')} records, ${os.cpus().length} cores, Node ${process.version}, ${new Date().toISOString()}\n`);
  console.log('| test | emdb-js | lmdb | classic-level |\n|---|--:|--:|--:|');
  console.log(`| transaction of ${TX_SIZE} puts, commit (ms each) | ${e.tx} | ${l.tx} | ${c.tx} (batch) |`);
  console.log(`| transaction of ${TX_SIZE} puts, commit + durable (ms each) | ${e.txDurable} | ${l.txDurable} (transactionSync) | ${c.txDurable} (batch, sync) |`);
  console.log(`| iteration, all ${RECORDS.toLocaleString('en-US')} entries (entries/s) | ${e.iter} | ${l.iter} (getRange) | ${c.iter} (iterator) |`);
  console.log(`| getSync from 2 attached user workers in parallel (reads/s) | ${e.threads} | ${l.threads} | ${c.threads} |`);
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
