/**
 * Loads a store adapter by name. A store whose module (or native binding, or
 * the engine itself) fails to import is reported as missing with the reason,
 * never as a crash of the harness.
 */
import { errorMessage } from '../util.js';
import { STORE_NAMES, type StoreAdapter, type StoreName } from './types.js';

export type LoadedAdapter = { ok: true; adapter: StoreAdapter } | { ok: false; reason: string };

interface AdapterModule {
  createAdapter(): StoreAdapter | Promise<StoreAdapter>;
}

const MODULES: Record<StoreName, () => Promise<AdapterModule>> = {
  'emdb-js': () => import('./emdb-js.js'),
  lmdb: () => import('./lmdb.js'),
  'classic-level': () => import('./classic-level.js'),
  'better-sqlite3': () => import('./better-sqlite3.js'),
};

export function isStoreName(name: string): name is StoreName {
  return (STORE_NAMES as readonly string[]).includes(name);
}

export async function loadAdapter(name: StoreName): Promise<LoadedAdapter> {
  try {
    const mod = await MODULES[name]();
    return { ok: true, adapter: await mod.createAdapter() };
  } catch (err) {
    return { ok: false, reason: `failed to load: ${errorMessage(err)}` };
  }
}

/** Parses `--stores a,b,c` (default: all), rejecting unknown names. */
export function parseStores(raw: string | undefined): StoreName[] {
  if (raw === undefined || raw === 'all') return [...STORE_NAMES];
  const names = raw.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (!isStoreName(n)) throw new Error(`unknown store ${JSON.stringify(n)}; known: ${STORE_NAMES.join(', ')}`);
  }
  return names as StoreName[];
}
