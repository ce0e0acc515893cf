/**
 * The writer thread's code as one file, dist/workers/writer.bundle.cjs, built
 * after tsc by `npm run build`. Every open starts a writer thread, a new
 * isolate that loaded the engine's ~70 modules one by one; one file instead cut
 * open + first durable write from ~122 to ~80 ms here (docs/BENCH.md,
 * "Start-up"). dist/workers/writer.js stays the same code, unbundled.
 *
 * CommonJS, not an ES module: a thread whose entry is CommonJS never starts
 * Node's ES module loader (~3-4 ms of every open here), and @node-rs/crc32, a
 * CommonJS package, is then simply required instead of going through the
 * loader's CommonJS-to-ESM translation. Pure-JS packages the writer needs
 * (msgpackr's packer, @noble/hashes' Argon2id, both ES modules) are bundled in:
 * fewer files for the new isolate to resolve and load, and no ES module left
 * to require. Native bindings and node: builtins stay external.
 */
import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { crc32 } from '@node-rs/crc32';
import { defineConfig } from 'rolldown';

const BUNDLED_PACKAGES = ['msgpackr/', '@noble/hashes/'];

/**
 * Runs in a worker thread, as the writer's entry (workers/writer-boot.cts)
 * runs the bundle: compiled, its top level run (the code that runs then is
 * compiled then, and the cache carries it too), then V8's code cache of it
 * posted back. A worker, not this thread: the cache must be made under the
 * flags a writer thread has, and the bundle's top level expects a parentPort.
 */
const CACHE_BUILDER = `
const { parentPort, workerData: file } = require('node:worker_threads');
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const nodeModule = require('node:module');
const script = new vm.Script(nodeModule.wrap(fs.readFileSync(file, 'utf8')), { filename: file });
const bundleModule = { exports: {} };
script.runInThisContext().call(bundleModule.exports, bundleModule.exports, nodeModule.createRequire(file), bundleModule, file, path.dirname(file));
parentPort.postMessage(script.createCachedData());
`;

/**
 * The cache file: "EMC1", the payload's length and its CRC32 (u32 LE each),
 * then V8's cache. V8 does not check a code cache's payload in release builds:
 * a damaged one aborts the process (seen here), so the entry checks this CRC
 * before it hands the payload to V8 (workers/writer-boot.cts).
 */
function cacheFile(payload) {
  const head = Buffer.alloc(12);
  head.write('EMC1', 0, 'latin1');
  head.writeUInt32LE(payload.length, 4);
  head.writeUInt32LE(crc32(payload), 8);
  return Buffer.concat([head, payload]);
}

/** Writes `<bundle>.v8cache` beside the bundle (why: workers/writer-boot.cts), through a temp file and a rename. */
function writerCodeCache() {
  return {
    name: 'writer-code-cache',
    async writeBundle(options) {
      const file = path.resolve(options.file);
      const cache = await new Promise((resolve, reject) => {
        const worker = new Worker(CACHE_BUILDER, { eval: true, workerData: file });
        worker.once('message', (data) => {
          resolve(data);
          void worker.terminate();
        });
        worker.once('error', reject);
      });
      fs.writeFileSync(`${file}.v8cache.tmp`, cacheFile(Buffer.from(cache)));
      fs.renameSync(`${file}.v8cache.tmp`, `${file}.v8cache`);
    },
  };
}

export default defineConfig({
  input: path.resolve('dist/workers/writer.js'),
  platform: 'node',
  // Bare specifiers (packages, node: builtins) are external, but for the pure-JS packages above; relative and absolute paths are ours.
  external: (id, importer) => importer !== undefined && !id.startsWith('.') && !path.isAbsolute(id) && !BUNDLED_PACKAGES.some((p) => id.startsWith(p)),
  output: { file: 'dist/workers/writer.bundle.cjs', format: 'cjs', sourcemap: true },
  plugins: [writerCodeCache()],
});
