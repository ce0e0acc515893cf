// A node:http read service over one database: GET /kv/<key>.
//
//   node server.mjs --store emdb|lmdb --db PATH --mode MODE [--port 0] [--threads N]
//
// MODE:
//   main-async  the main thread accepts and serves; emdb-js reads with db.get() (reader pool)
//   main-sync   the main thread accepts and serves; reads with db.getSync() (emdb) / getBinary() (lmdb)
//   workers     N worker threads, each with its own server on its own port (Node 20 worker threads
//               cannot share one listening socket); each reads with getSync() on a database it got
//               with Emdb.attach(db.handle()) (emdb) or opens itself (lmdb).
// Prints one JSON line {"ready":true,"ports":[...]} when listening; stops on SIGTERM/SIGINT.
import http from 'node:http';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { makeHandler } from './handler.mjs';

const { values: o } = parseArgs({
  options: {
    store: { type: 'string', default: 'emdb' },
    db: { type: 'string' },
    mode: { type: 'string', default: 'main-sync' },
    port: { type: 'string', default: '0' },
    threads: { type: 'string', default: '2' },
  },
});
if (!o.db) throw new Error('--db PATH is required');

async function openStore() {
  if (o.store === 'lmdb') {
    const { open } = await import('lmdb');
    const db = open({ path: o.db, compression: false });
    return { sync: (k) => db.getBinary(k), async: (k) => db.getBinary(k), close: () => db.close(), handle: undefined };
  }
  const { Emdb } = await import('emdb-js');
  const db = await Emdb.open(o.db, { readers: Number(o.threads) });
  return { sync: (k) => db.getSync(k), async: (k) => db.get(k), close: () => db.close(), handle: db.handle() };
}

function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server.address().port));
  });
}

const store = await openStore();
const servers = [];
const workers = [];
let ports;
if (o.mode === 'workers') {
  const n = Number(o.threads);
  ports = await Promise.all(
    Array.from({ length: n }, (_, i) => {
      const w = new Worker(new URL('./worker.mjs', import.meta.url), {
        workerData: { store: o.store, db: o.db, handle: store.handle, port: Number(o.port) === 0 ? 0 : Number(o.port) + i },
      });
      workers.push(w);
      return new Promise((resolve, reject) => {
        w.once('message', (m) => resolve(m.port));
        w.once('error', reject);
      });
    }),
  );
} else if (o.mode === 'main-async' || o.mode === 'main-sync') {
  const server = http.createServer(makeHandler(o.mode === 'main-sync' ? store.sync : store.async));
  server.keepAliveTimeout = 60_000;
  servers.push(server);
  ports = [await listen(server, Number(o.port))];
} else {
  throw new Error(`unknown --mode ${o.mode}`);
}
console.log(JSON.stringify({ ready: true, store: o.store, mode: o.mode, ports }));

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  for (const s of servers) s.close();
  for (const s of servers) s.closeAllConnections();
  await Promise.all(workers.map((w) => new Promise((resolve) => { w.once('exit', resolve); w.postMessage('stop'); })));
  await store.close();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
