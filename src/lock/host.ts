import fs from 'node:fs';

/**
 * Where this process's pids mean something. A hostname alone does not say it:
 * two containers of one pod (or a `--network=host` container beside a host
 * process) share the hostname but each has its own PID namespace, where pid 1
 * of one is an unrelated process of the other. A pid test is only proof when
 * the holder's PID namespace and boot are ours.
 */
export interface PidScope {
  /** `readlink /proc/self/ns/pid`, e.g. `pid:[4026531836]` (Linux). */
  pidNs?: string;
  /** /proc/sys/kernel/random/boot_id: a new value at every boot (Linux). */
  bootId?: string;
}

let scope: PidScope | undefined;
let bootMs: number | null | undefined;

function readOr(read: () => string): string | undefined {
  try {
    const v = read().trim();
    return v.length > 0 ? v : undefined;
  } catch {
    return undefined; // not Linux, or /proc not mounted
  }
}

/** This process's PID namespace and boot; fields absent where /proc does not give them. */
export function pidScope(): PidScope {
  if (scope !== undefined) return scope;
  const s: PidScope = {};
  const pidNs = readOr(() => fs.readlinkSync('/proc/self/ns/pid'));
  if (pidNs !== undefined) s.pidNs = pidNs;
  const bootId = readOr(() => fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8'));
  if (bootId !== undefined) s.bootId = bootId;
  scope = s;
  return s;
}

/** When this host last booted (ms since the epoch, from `btime` in /proc/stat), or undefined. */
export function bootTimeMs(): number | undefined {
  if (bootMs !== undefined) return bootMs ?? undefined;
  bootMs = null;
  const m = /^btime (\d+)$/m.exec(readOr(() => fs.readFileSync('/proc/stat', 'utf8')) ?? '');
  if (m) bootMs = Number(m[1]) * 1000;
  return bootMs ?? undefined;
}
