/** examples/session-cache runs with its README's command and shows expiry, persist and a group logout. */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { ROOT } from './cli-helpers.js';

it('examples/session-cache: sessions expire, a persisted one stays, a group logout removes all of a user', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [path.join(ROOT, 'examples/session-cache/main.mjs')], { cwd: ROOT });
  expect(stdout).toMatch(/^sessions: 6 live, user0\.web expires in ~\d+ ms$/m);
  expect(stdout).toMatch(/^after logging user1 out everywhere: 4 live$/m);
  expect(stdout).toMatch(/^after 550 ms: 1 live \(session\.user0\.phone\); db\.len\(\) = 1$/m);
  expect(stdout).toMatch(/^expired session read: null$/m);
});
