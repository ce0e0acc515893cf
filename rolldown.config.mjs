/**
 * The writer thread's code as one ES module, dist/workers/writer.bundle.js,
 * built after tsc by `npm run build`. Every open starts a writer thread, a new
 * isolate that loaded the engine's ~70 modules one by one; one file instead cut
 * open + first durable write from ~122 to ~80 ms here (docs/BENCH.md,
 * "Start-up"). Packages stay external: native bindings, and files that resolve
 * from node_modules as before. dist/workers/writer.js stays the same code,
 * unbundled.
 */
import path from 'node:path';
import { defineConfig } from 'rolldown';

export default defineConfig({
  input: path.resolve('dist/workers/writer.js'),
  platform: 'node',
  // Bare specifiers (packages, node: builtins) are external; relative and absolute paths are ours.
  external: (id, importer) => importer !== undefined && !id.startsWith('.') && !path.isAbsolute(id),
  output: { file: 'dist/workers/writer.bundle.js', format: 'esm', sourcemap: true },
});
