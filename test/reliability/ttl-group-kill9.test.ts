/**
 * kill -9 with TTLs and group deletes (fixtures/ttl-group-child.ts): after
 * every recovery no expired record is served (values carry their deadline),
 * len() agrees with iteration, and every group is whole or entirely gone
 * (a group delete is one prefix-delete record: never partial).
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb } from '../../dist/src/index.js';
import { setTestClockOffset } from '../../dist/src/testing.js';
import { FIXTURES, scaled, spawnCrashChild, tempDirs } from '../helpers/common.js';

const CHILD = path.join(FIXTURES, 'ttl-group-child.js');
const GROUP_SIZE = 40;
const ITERATIONS = scaled(8);

function runAndKill(file: string, seed: number, afterOpenMs: number): Promise<void> {
  const child = spawnCrashChild(CHILD, [file, String(seed)]);
  let out = '';
  let err = '';
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      const before = out;
      out += d.toString();
      if (!before.includes('open\n') && out.includes('open\n')) setTimeout(() => child.kill('SIGKILL'), afterOpenMs);
    });
    child.on('close', (code, signal) => {
      if (signal === 'SIGKILL') resolve();
      else reject(new Error(`child exited ${code}: ${err}`));
    });
  });
}

describe('kill -9 with TTL records and group deletes', () => {
  const dirs = tempDirs('emdb-ttl-kill9-');

  it('never serves an expired record and never leaves a group half deleted', async () => {
    const file = path.join(dirs(), 'db.emdb');
    for (let it = 0; it < ITERATIONS; it++) {
      await runAndKill(file, it + 1, 150 + ((it * 137) % 600));
      const db = await Emdb.open<string>(file, { readers: 1, valueEncoding: 'utf8' });
      try {
        // As recovered, at the real time: a served TTL record's deadline is still ahead.
        const now = Date.now();
        for (let i = 0; i < 400; i++) {
          const v = db.getSync(`t${i}`);
          if (v !== undefined && v !== '0') expect(Number(v) + 50, `t${i} served after its deadline`).toBeGreaterThan(now);
        }
        // An hour later every TTL record is expired, while the writer sweeps them concurrently.
        await setTestClockOffset(db, 3_600_000);
        const groups = new Map<string, number>();
        let n = 0;
        for await (const [k, v] of db.iter()) {
          n++;
          const key = k.toString();
          if (key.startsWith('t')) expect(v, `${key} expired but served`).toBe('0');
          else {
            const g = key.slice(0, key.indexOf('.'));
            groups.set(g, (groups.get(g) ?? 0) + 1);
          }
        }
        for (const [g, count] of groups) expect(count, `group ${g}`).toBe(GROUP_SIZE);
        for (const g of groups.keys()) expect(await (await db.group(g)).count()).toBe(GROUP_SIZE);
        expect(await db.len()).toBe(n);
      } finally {
        await db.close();
      }
    }
  }, 120_000);
});
