/**
 * The writer thread's entry: runs dist/workers/writer.bundle.cjs with the V8
 * code cache `npm run build` made for it (rolldown.config.mjs, writerCodeCache).
 *
 * Why: every open starts a writer thread, and the thread's start is the
 * longest step of a reopen (docs/DESIGN.md, "The reopen's critical path").
 * Compiling the half-megabyte bundle was ~13 ms of it; with the cache V8
 * deserializes the compiled code instead (~6 ms). The cache is only a hint:
 * V8 checks it against this source, its own version and its flags, this
 * file checks its payload (checkedCache), and the bundle is compiled as
 * usual when the cache is missing, stale, damaged or rejected, so a build
 * that could not write it, or a Node that differs from the one that built
 * it, only loses the saving.
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
const requireHere = nodeModule.createRequire(bundle);
const cachedData = checkedCache(`${bundle}.v8cache`);
const script = new vm.Script(nodeModule.wrap(source), { filename: bundle, ...(cachedData ? { cachedData } : {}) });
const body = script.runInThisContext() as (exports: object, require: NodeJS.Require, module: { exports: object }, filename: string, dirname: string) => void;
const bundleModule = { exports: {} };
body.call(bundleModule.exports, bundleModule.exports, requireHere, bundleModule, bundle, path.dirname(bundle));

/**
 * V8's cache from the file the build wrote ("EMC1", the payload's length and
 * CRC32, the payload), or undefined when it is missing or does not check out.
 * V8 checks a cache's version, source and flags, but not its payload in
 * release builds: a damaged payload aborts the process. The bundle requires
 * the CRC package at its top level anyway, so this adds no load.
 */
function checkedCache(file: string): Buffer | undefined {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch {
    return undefined; // not built, or removed: compiled as usual
  }
  if (bytes.length < 12 || bytes.toString('latin1', 0, 4) !== 'EMC1' || bytes.readUInt32LE(4) !== bytes.length - 12) return undefined;
  const payload = bytes.subarray(12);
  const { crc32 } = requireHere('@node-rs/crc32') as { crc32: (data: Uint8Array) => number };
  return crc32(payload) === bytes.readUInt32LE(8) ? payload : undefined;
}
