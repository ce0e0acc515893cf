/**
 * Writes the fixtures in test/fixtures/derived-nonce/ (read by
 * test/reliability/encryption-derived-nonce-compat.test.ts):
 * encrypted files as the builds before random nonces wrote them (sealed units
 * with a 32-byte SEAL value, nonce = key generation ‖ LSN; scheme 1 records
 * whose stored nonce is generation ‖ LSN), and the contents each must read
 * back as (live key count, SHA-256 of the sorted [key, value] pairs as JSON).
 * They were made at commit 0b174e8, the last such build (this file is not a
 * test, and run on a later build it would write the current layout): in that
 * checkout, copy it to test/helpers/derived-nonce-fixtures.gen.test.ts,
 * `npm run build`, `npx vitest run test/helpers/derived-nonce-fixtures.gen.test.ts`.
 * Two opens per file, so two key generations are in it.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { it } from 'vitest';
import { setNewFileScheme } from '../../dist/src/crypto/keys.js';
import { DB, encodeUnits, type Unit } from './sim/engine-harness.js';
import { SimFS } from './sim/sim-fs.js';
import { contents, openEncrypted } from './encryption-sim.js';

const KEY = new Uint8Array(32).fill(0x5a);
const puts = (prefix: string, n: number, valueLen: number): { t: 'put'; k: string; v: string }[] =>
  Array.from({ length: n }, (_, i) => ({ t: 'put' as const, k: `${prefix}${String(i).padStart(4, '0')}`, v: `${prefix}-value-${i}-`.padEnd(valueLen, 'x') }));

function make(name: string, scheme: 1 | 2, cipher: 'aes-256-gcm' | 'chacha20-poly1305', opens: Unit[][][]): void {
  setNewFileScheme(scheme);
  const sim = new SimFS();
  let model = new Map<string, string>();
  for (const batches of opens) {
    const e = openEncrypted(sim, { key: KEY, cipher });
    for (const units of batches) {
      const { batch, records } = encodeUnits(units);
      e.append(batch, false, records);
      e.flush();
    }
    model = contents(e);
    e.close();
  }
  setNewFileScheme(2);
  const out = path.join(import.meta.dirname, '../fixtures/derived-nonce');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, `${name}.emdb`), sim.readFile(DB)!);
  const sorted = JSON.stringify([...model].sort());
  const expected = { scheme, cipher, key: Buffer.from(KEY).toString('hex'), liveKeys: model.size, contentsSha256: createHash('sha256').update(sorted).digest('hex') };
  fs.writeFileSync(path.join(out, `${name}.json`), `${JSON.stringify(expected, null, 1)}\n`);
}

it('writes the derived-nonce fixtures', () => {
  // Scheme 2: a transaction larger than a unit (its body holds a 64-byte opener), then a second open's units.
  make('units-aes', 2, 'aes-256-gcm', [
    [puts('a', 30, 40), [{ t: 'tx', ops: puts('t', 230, 280) }], [{ t: 'del', k: 'a0003' }]],
    [puts('b', 10, 60), [{ t: 'del', k: 't0100' }]],
  ]);
  // Scheme 1 (per-record AEAD): nonces stored in each record, generation ‖ LSN.
  make('records-chacha', 1, 'chacha20-poly1305', [
    [puts('a', 20, 40)],
    [puts('b', 5, 50), [{ t: 'tx', ops: puts('c', 3, 30) }], [{ t: 'del', k: 'a0002' }]],
  ]);
});
