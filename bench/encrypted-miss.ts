/**
 * What a page-cache miss would cost on an encrypted database, both ways the
 * design could serve it (docs/DESIGN.md, "Bounded page cache", step 5):
 *
 * - on the reading thread: pread a sealed unit (the record's whole unit: it
 *   is authenticated as one) and open it with node:crypto, AES-256-GCM and
 *   ChaCha20-Poly1305, for unit sizes up to the 64 KiB cap;
 * - on the writer: a synchronous request from the reading thread
 *   (`Atomics.wait`, as Node allows on the main thread) to a thread that
 *   waits with `Atomics.waitAsync` in its event loop, idle and with its loop
 *   half busy (a timer that runs 0.5 ms of work every millisecond, as a
 *   writer applying batches would), before any decryption.
 *
 * Run alone: node dist/bench/encrypted-miss.js [--rounds 3000]
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { intArg, isMain, median, mkTempDir, parseArgs, removeDir } from './util.js';

/** µs per call of `f`: the median of 5 timed runs of `n` calls, after a warm-up. */
function microsPerCall(n: number, f: () => void): number {
  for (let i = 0; i < Math.min(n, 300); i++) f();
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t = performance.now();
    for (let i = 0; i < n; i++) f();
    runs.push(((performance.now() - t) * 1000) / n);
  }
  return median(runs);
}

function unitRows(dir: string, n: number): string[] {
  const key = crypto.randomBytes(32);
  const nonce = crypto.randomBytes(12);
  const rows: string[] = [];
  for (const size of [4096, 16384, 65536]) {
    const plain = crypto.randomBytes(size);
    const gcm = crypto.createCipheriv('aes-256-gcm', key, nonce);
    const gcmCt = Buffer.concat([gcm.update(plain), gcm.final()]);
    const gcmTag = gcm.getAuthTag();
    const cc = crypto.createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
    const ccCt = Buffer.concat([cc.update(plain), cc.final()]);
    const ccTag = cc.getAuthTag();
    const file = path.join(dir, `unit-${size}`);
    fs.writeFileSync(file, gcmCt);
    const fd = fs.openSync(file, 'r');
    const buf = Buffer.alloc(size);
    try {
      const pread = microsPerCall(n, () => void fs.readSync(fd, buf, 0, size, 0));
      const openGcm = microsPerCall(n, () => {
        const d = crypto.createDecipheriv('aes-256-gcm', key, nonce);
        d.setAuthTag(gcmTag);
        d.update(gcmCt);
        d.final();
      });
      const openCc = microsPerCall(n, () => {
        const d = crypto.createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
        d.setAuthTag(ccTag);
        d.update(ccCt);
        d.final();
      });
      rows.push(`| ${size / 1024} KiB | ${pread.toFixed(1)} | ${openGcm.toFixed(1)} | ${openCc.toFixed(1)} | ${(pread + openGcm).toFixed(1)} |`);
    } finally {
      fs.closeSync(fd);
    }
  }
  return rows;
}

/** The request thread: answers each request word, from an event loop `busyMs` of every ms busy. */
const RESPONDER = `
const { workerData } = require('node:worker_threads');
const words = new Int32Array(workerData.sab);
// The timer also keeps the loop alive: a pending waitAsync alone does not, and the thread would end.
setInterval(() => { const t = performance.now(); while (performance.now() - t < workerData.busyMs) {} }, 1);
function loop() {
  const waited = Atomics.waitAsync(words, 0, 0);
  const answer = () => { Atomics.store(words, 0, 0); Atomics.store(words, 1, 1); Atomics.notify(words, 1); loop(); };
  if (waited.async) waited.value.then(answer); else answer();
}
loop();
`;

async function roundTrip(busyMs: number, n: number): Promise<{ median: number; p99: number }> {
  const sab = new SharedArrayBuffer(8);
  const words = new Int32Array(sab);
  const worker = new Worker(RESPONDER, { eval: true, workerData: { sab, busyMs } });
  try {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      Atomics.store(words, 1, 0);
      Atomics.store(words, 0, 1);
      Atomics.notify(words, 0);
      Atomics.wait(words, 1, 0, 1000);
      times.push((performance.now() - t) * 1000);
    }
    times.sort((a, b) => a - b);
    return { median: times[n >> 1]!, p99: times[Math.floor(n * 0.99)]! };
  } finally {
    await worker.terminate();
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const n = intArg(args, 'rounds', 3000);
  const dir = mkTempDir('emdb-bench-encrypted-miss-');
  try {
    const lines = [
      `Encrypted page-cache miss, the two ways (${os.cpus().length} cores, ${os.cpus()[0]?.model ?? '?'}, Node ${process.versions.node}, ${new Date().toISOString().slice(0, 10)}); µs per call, medians`,
      '',
      '| unit | pread | open, AES-256-GCM | open, ChaCha20-Poly1305 | miss on the reading thread (pread + GCM) |',
      '|---|--:|--:|--:|--:|',
      ...unitRows(dir, n),
      '',
      '| request to the writer thread (before any decryption) | median µs | p99 µs |',
      '|---|--:|--:|',
    ];
    for (const busy of [0, 0.5]) {
      const r = await roundTrip(busy, n);
      lines.push(`| its event loop ${busy === 0 ? 'idle' : `busy ${busy} ms of every ms`} | ${r.median.toFixed(1)} | ${r.p99.toFixed(1)} |`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    removeDir(dir);
  }
}

if (isMain(import.meta.url)) await main();
