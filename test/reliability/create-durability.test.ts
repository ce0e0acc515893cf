/**
 * Regression (found by the crash enumeration): a database created in a directory
 * that did not exist yet was lost, with every flushed record, by a power loss —
 * the new directories' entries in their parents were never fsynced. Creation
 * now fsyncs the parent of every directory on the path, also when an earlier
 * attempt made the directories and failed (or died) before syncing them.
 */
import { describe, expect, it } from 'vitest';
import { CRASH_MODES } from '../helpers/sim/crash-image.js';
import { encodeUnits, openEngine, readBack } from '../helpers/sim/engine-harness.js';
import { SimFS } from '../helpers/sim/sim-fs.js';

const FILE = '/srv/nested/deeper/db.emdb';
const policy = { kind: 'onEachFlush' } as const;

function putAndFlush(sim: SimFS): void {
  const engine = openEngine(sim, policy, FILE);
  const { batch, records } = encodeUnits([{ t: 'put', k: 'k', v: 'flushed' }]);
  engine.append(batch, true, records);
  engine.flush();
}

function survives(image: SimFS): boolean {
  if (!image.exists(FILE)) return false;
  const engine = openEngine(image, policy, FILE);
  try {
    return readBack(engine, ['k']).state.get('k') === 'flushed';
  } finally {
    engine.close();
  }
}

describe('database creation in new directories', () => {
  it('a flushed record survives a power loss in every mode', () => {
    const sim = new SimFS();
    putAndFlush(sim);
    for (const mode of CRASH_MODES) for (let seed = 0; seed < 3; seed++) expect(survives(sim.crash(mode, seed)), mode).toBe(true);
  });

  it('also when the first open failed after making the directories', () => {
    for (let at = 2; at <= 4; at++) {
      // Calls 2..4 are the parent-directory fsyncs of the first attempt.
      const sim = new SimFS({ faults: [{ at, code: 'EIO', persistent: false }] });
      expect(() => openEngine(sim, policy, FILE)).toThrow(/EIO/);
      expect(sim.isDirectory('/srv/nested/deeper')).toBe(true);
      putAndFlush(sim);
      expect(survives(sim.crash('dropUnsynced', at)), `fault at call ${at}`).toBe(true);
    }
  });
});
