/**
 * The writer thread's entry: runs dist/workers/writer.bundle.cjs with the V8
 * code cache `npm run build` made for it (rolldown.config.mjs, writerCodeCache).
 *
 * Why: every open starts a writer thread, and the thread's start is the
 * longest step of a reopen (docs/DESIGN.md, "The reopen's critical path").
 * Compiling the half-megabyte bundle was ~13 ms of it; with the cache V8
 * deserializes the compiled code instead (~6 ms). The cache is only a hint:
 * V8 checks it against this source, its own version and its flags, and
 * compiles as usual when it is missing, stale or rejected, so a build that
 * could not write it, or a Node that differs from the one that built it,
 * only loses the saving.
 *
 * The bundle runs as Node's own loader would run it: wrapped as a CommonJS
 * module, with a `require` that resolves from the bundle's directory.
 */
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS entry: `import x = require()` is how TypeScript writes require() here under verbatimModuleSyntax */
import fs = require('node:fs');
import nodeModule = require('node:module');
import path = require('node:path');
import vm = require('node:vm');
/* eslint-enable @typescript-eslint/no-require-imports */

const bundle = path.join(__dirname, 'writer.bundle.cjs');
const source = fs.readFileSync(bundle, 'utf8');
let cachedData: Buffer | undefined;
try {
  cachedData = fs.readFileSync(`${bundle}.v8cache`);
} catch {
  // No cache (not built, or removed): compiled below as usual.
}
const script = new vm.Script(nodeModule.wrap(source), { filename: bundle, ...(cachedData ? { cachedData } : {}) });
const body = script.runInThisContext() as (exports: object, require: NodeJS.Require, module: { exports: object }, filename: string, dirname: string) => void;
const bundleModule = { exports: {} };
body.call(bundleModule.exports, bundleModule.exports, nodeModule.createRequire(bundle), bundleModule, bundle, path.dirname(bundle));
