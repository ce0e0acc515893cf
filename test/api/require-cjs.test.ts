/**
 * CommonJS users: `require('emdb-js')` loads the ESM build through the exports
 * map's `require` condition (Node >= 20.19 can require() an ES module), and
 * the bins point at the built CLI.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { ROOT } from './cli-helpers.js';

it("require('emdb-js') works from a CommonJS module", async () => {
  const script = `
    const { Emdb, EmdbError, ErrorCode } = require('emdb-js');
    const os = require('node:os'), path = require('node:path'), fs = require('node:fs');
    (async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emdb-cjs-'));
      const db = await Emdb.open(path.join(dir, 'c.emdb'), { readers: 1 });
      await db.insert('k', 'v');
      console.log(typeof Emdb, typeof EmdbError, ErrorCode.LOCKED, db.getSync('k').toString());
      await db.close();
      fs.rmSync(dir, { recursive: true, force: true });
    })();
  `;
  const file = path.join(ROOT, 'test', 'api', '.require-probe.cjs');
  fs.writeFileSync(file, script);
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [file], { cwd: ROOT });
    expect(stdout.trim()).toBe('function function ERR_EMDB_LOCKED v');
    // Node 20 prints an ExperimentalWarning for require(esm); nothing else.
    expect(stderr.replace(/.*ExperimentalWarning.*\n?|.*--trace-warnings.*\n?/g, '')).toBe('');
  } finally {
    fs.rmSync(file, { force: true });
  }
});

it('package.json: bins emdb-js and emdb point at the built, executable CLI', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  expect(pkg.bin).toEqual({ 'emdb-js': 'dist/src/cli/main.js', emdb: 'dist/src/cli/main.js' });
  const cli = path.join(ROOT, pkg.bin['emdb-js']);
  expect(fs.readFileSync(cli, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  expect(fs.statSync(cli).mode & 0o111).not.toBe(0);
});
