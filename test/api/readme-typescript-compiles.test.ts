/**
 * Every ```ts block of README.md compiles, as a user would compile it: its
 * own module, importing the built package by name ('emdb-js',
 * 'emdb-js/level'), under `strict` with `module: nodenext`. Users copy these
 * blocks; one that does not type-check (a json database typed as Buffers, a
 * batch option the typings lacked) is a defect of the types or of the README.
 * A block's free variables (`userId`, `key`, ...) are declared with the types
 * the surrounding text gives them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDirs } from '../helpers/common.js';
import { typecheckAsUser } from '../helpers/user-tsc.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

/** Declarations for names the README's blocks use without defining them. */
const FREE: Record<string, string> = {
  db: "declare const db: import('emdb-js').Emdb<string>;",
  userId: 'declare const userId: string;',
  sid: 'declare const sid: string;',
  lastKey: 'declare const lastKey: string;',
  key: 'declare const key: Uint8Array;',
  newKey: 'declare const newKey: Uint8Array;',
  passphrase: 'declare const passphrase: string;',
};

/** The ```ts blocks of `markdown` (indented ones, inside lists, too), with their line numbers. */
export function typescriptBlocks(markdown: string): { line: number; code: string }[] {
  const blocks: { line: number; code: string }[] = [];
  let current: { line: number; lines: string[] } | undefined;
  markdown.split('\n').forEach((text, i) => {
    const fence = /^\s*```(\w*)/.exec(text);
    if (!fence) {
      current?.lines.push(text);
    } else if (current) {
      blocks.push({ line: current.line, code: current.lines.join('\n') });
      current = undefined;
    } else if (fence[1] === 'ts' || fence[1] === 'typescript') {
      current = { line: i + 1, lines: [] };
    } else {
      // Another language's block: skip to its closing fence.
      current = { line: -1, lines: [] };
    }
  });
  return blocks.filter((b) => b.line > 0);
}

/** A module for one block: its imports completed, its free names declared. */
function moduleFor(code: string): string {
  const head: string[] = [];
  if (/\bEmdb\b/.test(code) && !/import\s*{[^}]*\bEmdb\b[^}]*}\s*from 'emdb-js'/.test(code)) head.push("import { Emdb } from 'emdb-js';");
  for (const [name, declaration] of Object.entries(FREE)) {
    const used = new RegExp(`\\b${name}\\b`).test(code);
    const defined = new RegExp(`\\b(?:const|let|var)\\s+${name}\\b`).test(code);
    if (used && !defined) head.push(declaration);
  }
  return [...head, code, 'export {};', ''].join('\n');
}

describe('README.md TypeScript', () => {
  const tmp = tempDirs('emdb-readme-');

  it('finds the blocks (a README rewrite must not leave this test checking nothing)', () => {
    const blocks = typescriptBlocks(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
    expect(blocks.length).toBeGreaterThanOrEqual(7);
    expect(blocks.some((b) => b.code.includes("from 'emdb-js/level'"))).toBe(true);
  });

  it('every ```ts block compiles under strict, module nodenext, against the built package', { timeout: 120_000 }, () => {
    const blocks = typescriptBlocks(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
    const modules = Object.fromEntries(blocks.map((b) => [`readme-line-${b.line}.mts`, moduleFor(b.code)]));
    const run = typecheckAsUser(tmp(), modules);
    // Errors name the file, readme-line-N.mts: N is the line of the block's fence in README.md.
    expect(run.output).toBe('');
    expect(run.status).toBe(0);
  });
});
