/**
 * `npm run bench:encryption`: the at-rest encryption rows of issue 15, as
 * ratios against an unencrypted database in the same run: getSync, bulk load
 * (insertMany), reopen after a clean close (raw key, so no KDF), the
 * passphrase open time (Argon2id), and @noble/ciphers vs node:crypto for
 * 150-byte and 4 KiB records. Prints a Markdown table.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Emdb } from '../src/index.js';
import { nodeAead, type CipherName } from '../src/crypto/aead.js';
import { nobleAead } from '../src/crypto/noble-aead.js';
import { keyAt, localKeys, makeKeys, valueFor } from './workload.js';

const recordsArg = process.argv.indexOf('--records');
const RECORDS = recordsArg > 0 ? Number(process.argv[recordsArg + 1]) : 200_000;
const READS = 1_000_000;
const SEED = 0x5eed_cafe;
const keys = localKeys(makeKeys(SEED, RECORDS));
const entries = (): [Buffer, Buffer][] => Array.from({ length: RECORDS }, (_, i) => [keyAt(keys, i), valueFor(SEED, i)]);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emdb-bench-enc-'));

interface Run {
  loadMs: number;
  getNs: number;
  reopenMs: number;
}

async function run(name: string, encryption?: { key: Uint8Array }): Promise<Run> {
  const file = path.join(dir, `${name}.emdb`);
  const opts = { readers: 1, ...(encryption ? { encryption } : {}) };
  let db = await Emdb.open(file, opts);
  const data = entries();
  let t = performance.now();
  await db.insertMany(data);
  await db.flush();
  const loadMs = performance.now() - t;
  let sink = 0;
  t = performance.now();
  for (let i = 0; i < READS; i++) sink += db.getSync(keyAt(keys, (i * 7919) % RECORDS))!.length;
  const getNs = ((performance.now() - t) * 1e6) / READS;
  await db.close();
  t = performance.now();
  db = await Emdb.open(file, opts);
  const reopenMs = performance.now() - t;
  if ((await db.len()) !== RECORDS || sink === 0) throw new Error('bench: wrong content');
  await db.close();
  return { loadMs, getNs, reopenMs };
}

function sealRate(make: (c: CipherName) => ReturnType<typeof nodeAead>, cipher: CipherName, size: number): number {
  const aead = make(cipher);
  const key = randomBytes(32);
  const nonce = randomBytes(12);
  const aad = new Uint8Array(32);
  const plain = randomBytes(size);
  const out = new Uint8Array(size);
  const n = size > 100_000 ? 2_000 : size > 1000 ? 20_000 : 100_000;
  const t = performance.now();
  for (let i = 0; i < n; i++) aead.seal(key, nonce, aad, plain, out);
  return (performance.now() - t) * 1000 / n;
}

const plain = await run('plain');
const enc = await run('aes', { key: randomBytes(32) });
const cha = await run('chacha', { key: randomBytes(32), cipher: 'chacha20-poly1305' } as { key: Uint8Array });
let t = performance.now();
const pdb = await Emdb.open(path.join(dir, 'pass.emdb'), { readers: 1, encryption: { passphrase: 'bench passphrase' } });
const createMs = performance.now() - t;
await pdb.insert('a', 'b');
await pdb.close();
t = performance.now();
const pdb2 = await Emdb.open(path.join(dir, 'pass.emdb'), { readers: 1, encryption: { passphrase: 'bench passphrase' } });
const passOpenMs = performance.now() - t;
await pdb2.close();

const f = (x: number, d = 2): string => x.toFixed(d);
console.log(`records: ${RECORDS.toLocaleString('en-US')} (value ~150 B), getSync: ${READS.toLocaleString('en-US')} random reads, one run\n`);
console.log('| row | unencrypted | AES-256-GCM | ratio | ChaCha20-Poly1305 | ratio | target |');
console.log('|---|---:|---:|---:|---:|---:|---|');
console.log(`| getSync (ns/read) | ${f(plain.getNs, 0)} | ${f(enc.getNs, 0)} | ${f(plain.getNs / enc.getNs)}× | ${f(cha.getNs, 0)} | ${f(plain.getNs / cha.getNs)}× | ≥ 0.8× |`);
console.log(`| bulk load insertMany (ms) | ${f(plain.loadMs, 0)} | ${f(enc.loadMs, 0)} | ${f(plain.loadMs / enc.loadMs)}× | ${f(cha.loadMs, 0)} | ${f(plain.loadMs / cha.loadMs)}× | ≥ 0.4× |`);
console.log(`| reopen after clean close, raw key (ms) | ${f(plain.reopenMs, 0)} | ${f(enc.reopenMs, 0)} | ${f(enc.reopenMs / plain.reopenMs)}× time | ${f(cha.reopenMs, 0)} | ${f(cha.reopenMs / plain.reopenMs)}× time | ≤ 1.5× time |`);
console.log(`\npassphrase (Argon2id m=19 MiB, t=2, p=1): create ${f(createMs, 0)} ms, open ${f(passOpenMs, 0)} ms\n`);
console.log('| seal, µs per record | @noble/ciphers | node:crypto | node speed-up |');
console.log('|---|---:|---:|---:|');
for (const cipher of ['aes-256-gcm', 'chacha20-poly1305'] as const) {
  for (const size of [150, 4096]) {
    const a = sealRate(nobleAead, cipher, size);
    const b = sealRate(nodeAead, cipher, size);
    console.log(`| ${cipher}, ${size} B | ${f(a)} | ${f(b)} | ${f(a / b, 1)}× |`);
  }
}
// The sealed-unit cap (src/crypto/batch-crypt.ts UNIT_CAP): one AEAD call per unit, fixed setup + per byte.
console.log('\n| AEAD call (node:crypto, AES-256-GCM) per unit size | µs per call | ns per byte |');
console.log('|---|---:|---:|');
for (const size of [1024, 4096, 16384, 65536, 262144]) {
  const us = sealRate(nodeAead, 'aes-256-gcm', size);
  console.log(`| ${size / 1024} KiB | ${f(us)} | ${f((us * 1000) / size)} |`);
}
fs.rmSync(dir, { recursive: true, force: true });
