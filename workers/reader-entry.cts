/**
 * The reader pool's entry file, CommonJS on purpose.
 *
 * piscina loads its task file with require() first. On Node ≥ 20.19 require()
 * of an ES module takes the synchronous require(esm) path, and a reader thread
 * terminated in the middle of it (a database closed while its pool still
 * starts, or a user thread that opened or attached one terminated) aborts the
 * whole process: Node's assertion in ModuleWrap::CreateRequiredModuleFacade,
 * seen about once in 250 attach/terminate cycles. This file is plain CommonJS,
 * so require() never enters that path. It starts the ES module through import()
 * (the asynchronous loader, which a terminating thread leaves cleanly) and
 * hands piscina promises of the handlers, which piscina awaits once per handler
 * name and caches: no cost per task.
 */
const reader = import('./reader.js');

export = {
  // `__esModule` makes piscina use this object as the module itself, so
  // `default` below is the read handler and not this object.
  __esModule: true,
  default: reader.then((m) => m.default),
  scanList: reader.then((m) => m.scanList),
  scan: reader.then((m) => m.scan),
  range: reader.then((m) => m.range),
};
