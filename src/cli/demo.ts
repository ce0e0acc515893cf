/**
 * `npm start`: loads 1,000,000 records (24-byte keys, 150-byte values) into the
 * database at the embedded default path, then measures random reads through the
 * reader pool, getMany and getSync, and the reopen time. A second run reopens the
 * existing database instead of loading it again.
 */
import fs from 'node:fs';
import { Emdb } from '../index.js';
import { resolveDatabasePath } from '../paths.js';
import { Progress } from './progress.js';

const RECORDS = Number(process.env.EMDB_DEMO_RECORDS ?? 1_000_000);
const KEY_BYTES = 24;
const VALUE_BYTES = 150;
const READS = 500_000;

/** Deterministic keys: the demo can re-derive any key without storing them. */
function keyOf(i: number): Buffer {
  const k = Buffer.alloc(KEY_BYTES);
  k.write('demo:', 0, 'latin1');
  k.writeUInt32BE(i, 5);
  let x = (i * 2654435761) >>> 0;
  for (let j = 9; j < KEY_BYTES; j++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    k[j] = x & 0xff;
  }
  return k;
}

function valueOf(i: number): Buffer {
  const v = Buffer.alloc(VALUE_BYTES, 0x61 + (i % 26));
  v.writeUInt32LE(i, 0);
  return v;
}

function* entries(total: number, progress: Progress): Generator<[Buffer, Buffer]> {
  for (let i = 0; i < total; i++) {
    yield [keyOf(i), valueOf(i)];
    if ((i + 1) % 50_000 === 0 || i + 1 === total) progress.update(i + 1);
  }
}

function randomIndexes(n: number, max: number): Uint32Array {
  const out = new Uint32Array(n);
  let x = 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = (x >>> 0) % max;
  }
  return out;
}

function check(i: number, v: Buffer | undefined): void {
  if (!v || v.length !== VALUE_BYTES || v.readUInt32LE(0) !== i) throw new Error(`demo: wrong value for record ${i}`);
}

async function main(): Promise<void> {
  const path = resolveDatabasePath({});
  const existed = fs.existsSync(path);
  console.log(`emdb-js demo: ${path} (${existed ? 'reopening existing database' : 'new database'})`);
  let t = performance.now();
  let db = await Emdb.open<Buffer>({});
  const firstOpenMs = performance.now() - t;
  let loadMs = 0;
  if ((await db.len()) < RECORDS) {
    t = performance.now();
    // The CLI's progress bar (cli-progress on a terminal, plain lines otherwise), on stderr.
    const progress = new Progress({ label: '  loading', unit: 'records', total: RECORDS, quiet: false });
    await db.insertMany(entries(RECORDS, progress));
    await db.checkpoint();
    progress.finish();
    loadMs = performance.now() - t;
  }
  const idx = randomIndexes(READS, RECORDS);
  const keys = Array.from(idx, keyOf);

  t = performance.now();
  for (let i = 0; i < READS; i++) check(idx[i]!, db.getSync(keys[i]!));
  const getSyncRate = READS / ((performance.now() - t) / 1000);

  t = performance.now();
  const CONCURRENCY = 10_000;
  for (let i = 0; i < READS; i += CONCURRENCY) {
    const batch = keys.slice(i, i + CONCURRENCY).map((k) => db.get(k));
    const values = await Promise.all(batch);
    values.forEach((v, j) => check(idx[i + j]!, v));
  }
  const poolRate = READS / ((performance.now() - t) / 1000);

  t = performance.now();
  for (let i = 0; i < READS; i += CONCURRENCY) {
    const values = await db.getMany(keys.slice(i, i + CONCURRENCY));
    values.forEach((v, j) => check(idx[i + j]!, v));
  }
  const getManyRate = READS / ((performance.now() - t) / 1000);

  const stats = await db.stats();
  await db.close();
  t = performance.now();
  db = await Emdb.open<Buffer>({});
  const reopenMs = performance.now() - t;
  check(idx[0]!, db.getSync(keys[0]!));
  const records = await db.len();
  await db.close();

  const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
  const rows: [string, string][] = [
    ['records', fmt(records)],
    ['file size', `${(fs.statSync(path).size / 2 ** 20).toFixed(1)} MiB`],
    ['first open', `${firstOpenMs.toFixed(0)} ms`],
    ['load (insertMany + checkpoint)', loadMs ? `${fmt(loadMs)} ms (${fmt(RECORDS / (loadMs / 1000))} rec/s)` : 'skipped: already loaded'],
    ['random reads, getSync', `${fmt(getSyncRate)} reads/s`],
    ['random reads, get (reader pool)', `${fmt(poolRate)} reads/s (${stats.readers} readers)`],
    ['random reads, getMany', `${fmt(getManyRate)} reads/s`],
    ['reopen', `${reopenMs.toFixed(0)} ms`],
  ];
  const w = Math.max(...rows.map((r) => r[0].length));
  console.log('\nsummary');
  for (const [k, v] of rows) console.log(`  ${k.padEnd(w)}  ${v}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
