import { it } from 'vitest';
import { runFaultCase } from './sim/fault-case.js';
import { SimFS, type Fault, type FaultCode } from './sim/sim-fs.js';
import { generateWorkload, POLICIES, runWorkload } from './sim/workload.js';
it('scratch', () => {
  const workload = generateWorkload(7000);
  const clean = new SimFS();
  runWorkload(clean, workload.steps, POLICIES.onEachFlush);
  const cats = new Map<string, string[]>();
  for (let n = 1; n <= clean.log.length; n++) {
    const faults: Fault[] = [];
    for (const code of ['EIO', 'ENOSPC', 'EROFS'] as FaultCode[]) { faults.push({ at: n, code, persistent: false }, { at: n, code, persistent: true }); }
    if (clean.log[n - 1]!.op === 'write') faults.push({ at: n, code: 'short' });
    if (clean.log[n - 1]!.op === 'fdatasync') faults.push({ at: n, code: 'syncFail' });
    for (const f of faults) {
      const r = runFaultCase(workload, POLICIES.onEachFlush, f);
      for (const v of r.violations) {
        const key = `${clean.log[n - 1]!.op} ${f.code}${'persistent' in f && f.persistent ? 'P' : ''}: ${v.replace(/\d+/g, '#').slice(0, 90)}`;
        const l = cats.get(key) ?? []; l.push(`${n}`); cats.set(key, l);
      }
    }
  }
  for (const [k, v] of cats) console.log(v.length, k, v.slice(0, 8).join(','));
  const steps = workload.steps.map((s, i) => `${i}:${s.t}`).join(' ');
  console.log(steps);
  console.log(clean.log.map((c, i) => `${i + 1}:${c.op}`).join(' '));
}, 100000);
