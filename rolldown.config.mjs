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
import path from 'node:path';
import { defineConfig } from 'rolldown';

const BUNDLED_PACKAGES = ['msgpackr/', '@noble/hashes/'];

export default defineConfig({
  input: path.resolve('dist/workers/writer.js'),
  platform: 'node',
  // Bare specifiers (packages, node: builtins) are external, but for the pure-JS packages above; relative and absolute paths are ours.
  external: (id, importer) => importer !== undefined && !id.startsWith('.') && !path.isAbsolute(id) && !BUNDLED_PACKAGES.some((p) => id.startsWith(p)),
  output: { file: 'dist/workers/writer.bundle.cjs', format: 'cjs', sourcemap: true },
});
