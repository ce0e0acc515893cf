export { EmdbLevel, EmdbSnapshot, LEVEL_DATA_FILE, type EmdbLevelOptions, type EmdbLevelOpenOptions } from './level.js';
export type { EmdbLevelEngineOptions, ClassicLevelOptions } from './options.js';
export { EmdbIterator } from './iterator.js';
