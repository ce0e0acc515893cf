// One worker thread of `server.mjs --mode workers`: its own http server on its own port,
// reading the shared database on this thread (emdb-js: Emdb.attach; lmdb: its own open).
import http from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';
import { makeHandler } from './handler.mjs';

let lookup;
let close;
if (workerData.store === 'lmdb') {
  const { open } = await import('lmdb');
  const db = open({ path: workerData.db, compression: false });
  lookup = (k) => db.getBinary(k);
  close = () => db.close();
} else {
  const { Emdb } = await import('emdb-js');
  const db = await Emdb.attach(workerData.handle);
  lookup = (k) => db.getSync(k);
  close = () => db.close();
}
const server = http.createServer(makeHandler(lookup));
server.keepAliveTimeout = 60_000;
server.listen(workerData.port, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }));
parentPort.on('message', async (m) => {
  if (m !== 'stop') return;
  server.close();
  server.closeAllConnections();
  await close();
  process.exit(0);
});
