/** examples/worker-threads runs with its README's command and reports every key visible to every reader. */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { ROOT } from './cli-helpers.js';

it('examples/worker-threads: producers write, readers see every key', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [path.join(ROOT, 'examples/worker-threads/main.mjs'), '--records', '3000', '--producers', '2', '--readers', '2'], { cwd: ROOT });
  expect(stdout).toMatch(/^producers: 2 threads wrote 6,000 records in \d+ ms$/m);
  expect(stdout.match(/final pass saw 6,000\/6,000/g)).toHaveLength(2);
  expect(stdout).toMatch(/^db\.len\(\): 6,000$/m);
});
