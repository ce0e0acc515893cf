import fs from 'node:fs';

/** This package's version, read from its package.json (dist/src/cli/ is three levels below it). */
export function toolVersion(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
