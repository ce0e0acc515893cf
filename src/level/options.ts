import { EmdbError, ErrorCode } from '../errors.js';
import { OPEN_OPTIONS, resolveOptions, type OpenOptions } from '../options.js';
import { closest } from '../option-names.js';

/** emdb-js options the adapter passes through (rangeScans is always on; values are bytes). */
export type EmdbLevelEngineOptions = Pick<OpenOptions, 'readers' | 'flushPolicy' | 'encryption' | 'rangeSnapshotLimit' | 'collectAfterCompaction'>;
const ENGINE_KEYS = ['readers', 'flushPolicy', 'encryption', 'rangeSnapshotLimit', 'collectAfterCompaction'] as const;

/**
 * classic-level's LevelDB tuning options (its README, "Opening"), accepted so
 * code written for classic-level opens unchanged. `cacheSize` means what the
 * engine's option of that name means (bytes kept in memory for reads) and is
 * passed on, so the engine validates it; the others tune LevelDB's own files
 * and threads, which emdb-js does not have: ignored.
 */
export interface ClassicLevelOptions {
  cacheSize?: number;
  multithreading?: boolean;
  compression?: boolean;
  writeBufferSize?: number;
  blockSize?: number;
  maxOpenFiles?: number;
  blockRestartInterval?: number;
  maxFileSize?: number;
}
const CLASSIC_LEVEL_KEYS: readonly (keyof ClassicLevelOptions)[] = [
  'cacheSize',
  'multithreading',
  'compression',
  'writeBufferSize',
  'blockSize',
  'maxOpenFiles',
  'blockRestartInterval',
  'maxFileSize',
];

/**
 * abstract-level's own options: the constructor's encodings and `passive`
 * (which it keeps), and open()'s. The constructor forwards the rest of its
 * options to open(), so every other name reaches _open().
 */
const LEVEL_KEYS = ['keyEncoding', 'valueEncoding', 'passive', 'createIfMissing', 'errorIfExists'];

const KNOWN: readonly string[] = [...LEVEL_KEYS, ...ENGINE_KEYS, ...CLASSIC_LEVEL_KEYS];
/** Emdb.open's options the adapter does not take: it chooses the path (and rangeScans) itself. */
const ENGINE_ONLY: readonly string[] = OPEN_OPTIONS.filter((k) => !KNOWN.includes(k));

/**
 * Refuses the option names that cannot be meant for anyone: an emdb-js option
 * the adapter does not take, a near miss of a known name (`encyption`,
 * `flushpolicy`: a typo must never fall back to a default, least of all a
 * plaintext database), and, when `strict`, any unknown name. abstract-level
 * hands the options given to the constructor and to open() to the postopen
 * hook functions (its README, "hook = db.hooks.postopen"; its compliance suite
 * checks it), so a name far from every known one may be a hook's: it is
 * accepted only when such a hook is there to read it (_open passes `strict`
 * when none is; the constructor runs before any can be added).
 */
export function checkOptionNames(options: object | undefined, strict: boolean): void {
  if (typeof options !== 'object' || options === null) return;
  for (const name of Object.keys(options)) {
    if (KNOWN.includes(name)) continue;
    if (ENGINE_ONLY.includes(name)) {
      throw invalid(`EmdbLevel does not take the emdb-js option ${name} (it passes on ${[...ENGINE_KEYS, 'cacheSize'].join(', ')})`);
    }
    const guess = closest(name, KNOWN);
    if (guess !== undefined) throw invalid(`unknown EmdbLevel option ${name} (did you mean ${guess}?)`);
    if (strict) throw invalid(`unknown EmdbLevel option ${name} (known options: ${KNOWN.join(', ')}; other names only for a postopen hook)`);
  }
}

function invalid(message: string): EmdbError {
  return new EmdbError(ErrorCode.INVALID_CONFIG, message);
}

/**
 * The engine's open options for what _open() received (the constructor's
 * options merged with open()'s, which take precedence), after checkOptionNames
 * (`hooked`: a postopen hook function is registered).
 */
export function engineOptions(options: Record<string, unknown>, hooked: boolean): OpenOptions {
  checkOptionNames(options, !hooked);
  return engineSubset(options);
}

/**
 * Validates the values of the engine options (a `readers: 0`, a misspelled
 * `flushPolicy` field) as Emdb.open will, for the database file `file`: pure,
 * nothing touches the disk, so a refused open creates no directory.
 */
export function checkEngineValues(options: object | undefined, file: string): void {
  if (typeof options !== 'object' || options === null) return;
  resolveOptions({ ...engineSubset(options as Record<string, unknown>), path: file }, false);
}

function engineSubset(options: Record<string, unknown>): OpenOptions {
  // readers: 1 unless asked: the adapter reads on the calling thread (getSync, snapshot
  // scans), so the reader pool is idle and more workers would only cost memory.
  const engine: Record<string, unknown> = { rangeScans: true, readers: 1 };
  for (const k of [...ENGINE_KEYS, 'cacheSize']) if (options[k] !== undefined) engine[k] = options[k];
  return engine as OpenOptions;
}
