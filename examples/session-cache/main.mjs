// A session cache on emdb-js: sessions expire on their own (TTL), each user's
// sessions live under one nested key prefix, and "log out everywhere" deletes a
// user's whole group in one crash-atomic record.
//
//   node main.mjs [--ttl 400] [--users 3] [--db PATH]
//
// Every session gets the database's defaultTtl; a "remember me" session is
// persisted (no expiry). The example waits past the TTL in real time and shows
// that expired sessions are invisible to every read, count and iteration.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Emdb } from 'emdb-js';

const { values: o } = parseArgs({
  options: { ttl: { type: 'string', default: '400' }, users: { type: 'string', default: '3' }, db: { type: 'string' } },
});
const ttl = Number(o.ttl);
const users = Number(o.users);
const dir = o.db ? undefined : fs.mkdtempSync(path.join(os.tmpdir(), 'emdb-session-cache-'));
const file = o.db ?? path.join(dir, 'sessions.emdb');

// json values, and every plain insert expires after `ttl` ms unless told otherwise.
const db = await Emdb.open(file, { valueEncoding: 'json', defaultTtl: ttl, rangeScans: true });
try {
  const sessions = db.focus('session'); // keys 'session.<user>.<id>'
  for (let u = 0; u < users; u++) {
    const user = sessions.focus(`user${u}`);
    await user.insert('web', { user: u, agent: 'browser', createdAt: Date.now() });
    await user.insert('phone', { user: u, agent: 'app', createdAt: Date.now() });
  }
  // user0's phone asked to be remembered: no expiry.
  await sessions.focus('user0').persist('phone');
  console.log(`sessions: ${await sessions.count()} live, user0.web expires in ~${Math.round((await db.ttl('session.user0.web')) / 100) * 100} ms`);

  // Log user1 out everywhere: one prefix-delete record, all or nothing.
  await db.group('session.user1').then((g) => g.remove());
  console.log(`after logging user1 out everywhere: ${await sessions.count()} live`);

  await new Promise((resolve) => setTimeout(resolve, ttl + 150));
  const left = [];
  for await (const [key] of sessions.entries({ fullKeys: true })) left.push(key.toString());
  console.log(`after ${ttl + 150} ms: ${await sessions.count()} live (${left.join(', ')}); db.len() = ${await db.len()}`);
  console.log(`expired session read: ${JSON.stringify(db.getSync('session.user2.web') ?? null)}`);
} finally {
  await db.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}
