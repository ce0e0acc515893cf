export { EmdbLevel, EmdbSnapshot, LEVEL_DATA_FILE, type EmdbLevelOptions, type EmdbLevelEngineOptions } from './level.js';
export { EmdbIterator } from './iterator.js';
