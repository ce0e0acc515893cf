import { it } from 'vitest';
import { runFaultCase } from './sim/fault-case.js';
import { SimFS } from './sim/sim-fs.js';
import { generateWorkload, POLICIES, runWorkload } from './sim/workload.js';
it('scratch', () => {
  const workload = generateWorkload(7000, 100, false);
  const sim = new SimFS({ faults: [{ at: 14, code: 'syncFail' }] });
  const run = runWorkload(sim, workload.steps, POLICIES.onEachFlush, { continueAfterError: true });
  console.log(run.errors.map((e) => `${e.step} ${e.refusing} ${String(e.error)}`).join('\n'));
  console.log(run.applied, run.durable, sim.log.slice(10, 50).map((c, i) => `${i + 11}:${c.op}:${c.file}:${c.fault ?? ''}`).join(' '));
  console.log(runFaultCase(workload, POLICIES.onEachFlush, { at: 14, code: 'syncFail' }));
}, 100000);
