import { EmdbLevel } from './dist/src/level/index.js';
import fs from 'node:fs'; import os from 'node:os'; import path from 'node:path';
const d = fs.mkdtempSync(path.join(os.tmpdir(), 'lvl-'));
const db = new EmdbLevel(path.join(d, 'db'));
await db.open();
const keyOf = (i) => `key:${i.toString(16).padStart(8, '0')}`;
const N = 20000;
for (let s = 0; s < N; s += 1000) { const ops=[]; for (let i=s;i<s+1000;i++) ops.push({type:'put', key:keyOf(i), value:'v'.repeat(100)}); await db.batch(ops); }
const e = db.engine;
let t = performance.now();
for (let r = 0; r < 2000; r++) { const it = e.rangeIter({ gte: '!'+keyOf((r*7919)%N), limit: 100 }); let n=0; for await (const x of it) n++; }
console.log('engine rangeIter', performance.now()-t);
t = performance.now();
for (let r = 0; r < 2000; r++) { await db.iterator({ gte: keyOf((r*7919)%N), limit: 100 }).all(); }
console.log('level range', performance.now()-t);
t = performance.now();
let n=0; for await (const x of db.iterator()) n++;
console.log('level iterate', performance.now()-t, n);
t = performance.now();
n=0; for await (const x of e.rangeIter({})) n++;
console.log('engine iterate', performance.now()-t, n);
await db.close(); fs.rmSync(d,{recursive:true});
