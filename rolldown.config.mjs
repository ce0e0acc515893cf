/**
 * The writer thread's code as one ES module, dist/workers/writer.bundle.js,
 * built after tsc by `npm run build`. Every open starts a writer thread, a new
 * isolate that loaded the engine's ~70 modules one by one; one file instead cut
 * open + first durable write from ~122 to ~80 ms here (docs/BENCH.md,
 * "Start-up"). dist/workers/writer.js stays the same code, unbundled.
 *
 * Pure-JS packages the writer needs (msgpackr's packer, @noble/hashes'
 * Argon2id) are bundled too: each was a few more modules for the new isolate
 * to resolve and load. Native bindings stay external; @node-rs/crc32 is
 * reached through workers/crc32-native.ts, a require() instead of an ES import
 * of a CommonJS package (see there). Other bare specifiers (node: builtins)
 * are external.
 */
import path from 'node:path';
import { defineConfig } from 'rolldown';

const BUNDLED_PACKAGES = ['msgpackr/', '@noble/hashes/'];
const CRC32_NATIVE = path.resolve('dist/workers/crc32-native.js');

export default defineConfig({
  input: path.resolve('dist/workers/writer.js'),
  platform: 'node',
  resolve: { alias: { '@node-rs/crc32': CRC32_NATIVE } },
  // Bare specifiers (packages, node: builtins) are external, but for the pure-JS packages above; relative and absolute paths are ours.
  external: (id, importer) =>
    importer !== undefined && !id.startsWith('.') && !path.isAbsolute(id) && !BUNDLED_PACKAGES.some((p) => id.startsWith(p)) && id !== '@node-rs/crc32',
  output: { file: 'dist/workers/writer.bundle.js', format: 'esm', sourcemap: true },
});
