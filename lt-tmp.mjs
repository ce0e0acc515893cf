import { EmdbAdapter, loadEmdb } from '/work/main/dist/bench/adapters/emdb-js.js';
import { loadEntries, localKeys, makeKeys } from '/work/main/dist/bench/workload.js';
import fs from 'node:fs';
const dir = '/tmp/cm/db2';
const keys = localKeys(makeKeys(11, 1000000));
const out = [];
for (let r = 0; r < 3; r++) {
  fs.rmSync(dir, { recursive: true, force: true }); fs.mkdirSync(dir);
  const e = new EmdbAdapter(await loadEmdb());
  await e.open(dir);
  const t0 = performance.now();
  await e.bulkLoad(loadEntries(keys, 11, 0, 1000000));
  out.push(performance.now() - t0);
  await e.close();
}
console.log('bulk load ms', out.map((x) => x.toFixed(0)).join(' '));
