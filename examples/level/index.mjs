// emdb-js/level with a module from the Level ecosystem: level-read-stream turns
// a range of a sublevel into a Node.js readable stream.
//
//   npm run build && node examples/level/index.mjs [directory]
//
// Writes a day of sensor readings into a sublevel (keys are ISO timestamps, so
// key order is time order), then streams one hour of them, newest first.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { EntryStream } from 'level-read-stream';
import { EmdbLevel } from 'emdb-js/level';

const dir = process.argv[2] ?? mkdtempSync(join(tmpdir(), 'emdb-level-example-'));
const db = new EmdbLevel(dir);
const readings = db.sublevel('readings', { valueEncoding: 'json' });

// One reading every 5 minutes for a day, in one atomic batch.
const start = Date.UTC(2026, 0, 1);
const ops = [];
for (let m = 0; m < 24 * 60; m += 5) {
  const at = new Date(start + m * 60_000).toISOString();
  ops.push({ type: 'put', key: at, value: { celsius: Math.round(200 + 50 * Math.sin(m / 120)) / 10 } });
}
await readings.batch(ops, { sync: true });

// 14:00 (inclusive) to 15:00 (exclusive), newest first, as a stream.
const hour = new EntryStream(readings, { gte: '2026-01-01T14:00', lt: '2026-01-01T15:00', reverse: true });
let count = 0;
await pipeline(
  hour,
  new Transform({
    objectMode: true,
    transform({ key, value }, _enc, done) {
      count++;
      done(null, `${key} ${value.celsius.toFixed(1)} °C\n`);
    },
  }),
  process.stdout,
  { end: false },
);
console.log(`${count} readings between 14:00 and 15:00; ${ops.length} stored`);

await db.close();
if (process.argv[2] === undefined) rmSync(dir, { recursive: true, force: true });
