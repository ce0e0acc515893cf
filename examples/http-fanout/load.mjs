// Load test: seeds the same records into emdb-js and lmdb-js, starts server.mjs in each mode for
// each store, drives it with autocannon (GET /kv/<random existing key>) and prints req/s and p99
// latency side by side.
//
//   node load.mjs [--records 100000] [--duration 10] [--connections 50] [--threads 2] [--modes main-async,main-sync,workers] [--json]
import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { Emdb } from 'emdb-js';
import { open as openLmdb } from 'lmdb';

const { values: o } = parseArgs({
  options: {
    records: { type: 'string', default: '100000' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    threads: { type: 'string', default: '2' },
    modes: { type: 'string', default: 'main-async,main-sync,workers' },
    stores: { type: 'string', default: 'emdb,lmdb' },
    json: { type: 'boolean', default: false },
  },
});
const RECORDS = Number(o.records);
const keyOf = (i) => `user:${String(i).padStart(8, '0')}`;
const valueOf = (i) => Buffer.from(JSON.stringify({ id: i, name: `user ${i}`, pad: 'x'.repeat(60) }));

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emdb-http-fanout-'));
const paths = { emdb: path.join(dir, 'data.emdb'), lmdb: path.join(dir, 'data.lmdb') };
const log = (s) => process.stderr.write(`${s}\n`);
/** Server processes running now: an interrupted run stops them and removes its seeded copies. */
const servers = new Set();
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    for (const child of servers) child.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  });
}

async function seed() {
  const db = await Emdb.open(paths.emdb, { readers: 1 });
  await db.insertMany((function* () { for (let i = 0; i < RECORDS; i++) yield [keyOf(i), valueOf(i)]; })());
  await db.close();
  if (o.stores.includes('lmdb')) {
    const l = openLmdb({ path: paths.lmdb, compression: false });
    await l.transaction(() => { for (let i = 0; i < RECORDS; i++) l.put(keyOf(i), valueOf(i)); });
    await l.close();
  }
}

function startServer(store, mode) {
  const child = spawn(process.execPath, [new URL('./server.mjs', import.meta.url).pathname, '--store', store, '--db', paths[store], '--mode', mode, '--threads', o.threads], { stdio: ['ignore', 'pipe', 'inherit'] });
  servers.add(child);
  child.once('exit', () => servers.delete(child));
  return new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: child.stdout });
    rl.once('line', (line) => resolve({ child, ports: JSON.parse(line).ports }));
    child.once('exit', (code) => reject(new Error(`server ${store} ${mode} exited with ${code}`)));
  });
}

/** CPU time (user + system, ms) a process has used so far: Linux /proc only; null elsewhere. */
function cpuMs(pid) {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    // Fields 14 and 15 of stat (utime, stime) in clock ticks; 100 per second on Linux.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return null;
  }
}

function stopServer(child) {
  return new Promise((resolve) => { child.removeAllListeners('exit'); child.once('exit', resolve); child.kill('SIGTERM'); });
}

function drive(port, connections) {
  let x = port * 2654435761;
  const nextPath = () => {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    return `/kv/${keyOf((x >>> 0) % RECORDS)}`;
  };
  return autocannon({
    url: `http://127.0.0.1:${port}`,
    connections,
    duration: Number(o.duration),
    requests: [{ setupRequest: (req) => ({ ...req, path: nextPath() }) }],
  });
}

async function measure(store, mode) {
  const { child, ports } = await startServer(store, mode);
  try {
    // Warm up: the first async reads start emdb-js's reader threads, and a cold page cache is not what we measure.
    for (const p of ports) await Promise.all(Array.from({ length: 20 }, (_, i) => fetch(`http://127.0.0.1:${p}/kv/${keyOf(i)}`).then((r) => r.arrayBuffer())));
    const per = Math.max(1, Math.round(Number(o.connections) / ports.length));
    const cpuBefore = cpuMs(child.pid);
    const results = await Promise.all(ports.map((p) => drive(p, per)));
    const cpuAfter = cpuMs(child.pid);
    const sum = (f) => results.reduce((a, r) => a + f(r), 0);
    // Server CPU per request: unlike req/s, it does not depend on how much CPU other processes took.
    const cpuUsPerReq = cpuBefore === null || cpuAfter === null ? null : Math.round(((cpuAfter - cpuBefore) * 1000) / Math.max(1, sum((r) => r.requests.total)));
    return {
      store: store === 'emdb' ? 'emdb-js' : 'lmdb-js',
      mode,
      ports: ports.length,
      reqPerSec: Math.round(sum((r) => r.requests.average)),
      p50Ms: Math.max(...results.map((r) => r.latency.p50)),
      p99Ms: Math.max(...results.map((r) => r.latency.p99)),
      requests: sum((r) => r.requests.total),
      cpuUsPerReq,
      non2xx: sum((r) => r.non2xx),
      errors: sum((r) => r.errors),
    };
  } finally {
    await stopServer(child);
  }
}

try {
  log(`seeding ${RECORDS.toLocaleString('en-US')} records into ${o.stores} (${dir})`);
  await seed();
  const rows = [];
  for (const mode of o.modes.split(',')) {
    for (const store of o.stores.split(',')) {
      log(`${store} ${mode}: ${o.duration} s, ${o.connections} connections`);
      rows.push(await measure(store, mode));
    }
  }
  if (o.json) {
    console.log(JSON.stringify(rows));
  } else {
    console.log(`records ${RECORDS}, ${o.duration} s per run, ${o.connections} connections, ${o.threads} threads, node ${process.version}, ${os.cpus().length} cpus`);
    console.log('store     mode        servers     req/s   p50 ms   p99 ms  server CPU µs/req   non-2xx  errors');
    for (const r of rows) {
      console.log(`${r.store.padEnd(9)} ${r.mode.padEnd(11)} ${String(r.ports).padStart(7)} ${String(r.reqPerSec).padStart(9)} ${String(r.p50Ms).padStart(8)} ${String(r.p99Ms).padStart(8)} ${String(r.cpuUsPerReq ?? '-').padStart(18)} ${String(r.non2xx).padStart(9)} ${String(r.errors).padStart(7)}`);
    }
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
