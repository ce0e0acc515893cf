/**
 * Type-checks modules the way a user of the package does: in a scratch
 * directory where `emdb-js` resolves to this checkout (its built types, as an
 * installed dependency resolves them), strict, module nodenext. Returns tsc's
 * output and exit status.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

export function typecheckAsUser(dir: string, modules: Record<string, string>): { output: string; status: number | null } {
  for (const [name, code] of Object.entries(modules)) fs.writeFileSync(path.join(dir, name), code);
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'emdb-js'), 'dir');
  const tsconfig = {
    compilerOptions: {
      strict: true,
      module: 'nodenext',
      moduleResolution: 'nodenext',
      target: 'es2022',
      lib: ['es2023', 'esnext.disposable'],
      types: ['node'],
      typeRoots: [path.join(ROOT, 'node_modules', '@types')],
      noEmit: true,
    },
    files: Object.keys(modules),
  };
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(tsconfig));
  const run = spawnSync(process.execPath, [TSC, '-p', dir, '--pretty', 'false'], { encoding: 'utf8' });
  return { output: run.stdout + run.stderr, status: run.status };
}
