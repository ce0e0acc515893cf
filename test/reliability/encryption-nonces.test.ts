/**
 * No (subkey, nonce) pair is ever used twice (issue 15, FORMAT.md "Nonces"):
 * every seal of a crash loop on the simulated file system is recorded, through
 * torn tails whose LSNs are written again, compaction and reopen, and the
 * pairs must all differ. (Copies of one file: encryption-copy-nonces.test.ts.) The loop must really rewrite LSNs (checked), or it
 * would prove nothing.
 */
import { describe, expect, it } from 'vitest';
import { observeNonces } from '../../dist/src/crypto/record-crypt.js';
import { CRASH_MODES } from '../helpers/sim/crash-image.js';
import { encodeUnits } from '../helpers/sim/engine-harness.js';
import { SimFS } from '../helpers/sim/sim-fs.js';
import { contents, openEncrypted } from '../helpers/encryption-sim.js';

describe('nonces across crash loops', () => {
  it('every (subkey, nonce) pair sealed is unique, though LSNs are reused after cut tails', () => {
    const pairs = new Set<string>();
    const lsnsPerKey = new Map<string, Set<number>>();
    let seals = 0;
    let lsnReused = 0;
    observeNonces((key, nonce, lsn) => {
      seals++;
      const k = Buffer.from(key).toString('hex');
      pairs.add(`${k}:${Buffer.from(nonce).toString('hex')}`);
      const seen = lsnsPerKey.get(k) ?? new Set<number>();
      if (seen.has(lsn)) lsnReused++;
      seen.add(lsn);
      lsnsPerKey.set(k, seen);
    });
    try {
      for (const cipher of ['aes-256-gcm', 'chacha20-poly1305'] as const) {
        const encryption = { key: new Uint8Array(32).fill(7), cipher };
        let sim = new SimFS();
        for (let round = 0; round < 24; round++) {
          const engine = openEncrypted(sim, encryption);
          const put = (k: string): void => {
            const { batch, records } = encodeUnits([{ t: 'put', k, v: `r${round}-${k}`.padEnd(30, '.') }]);
            engine.append(batch, false, records);
          };
          put(`a${round}`);
          engine.flush();
          // Unsynced: the crash below drops or tears these, and the next round writes their LSNs again.
          put(`b${round}`);
          put(`c${round}`);
          if (round % 8 === 7) engine.compact();
          sim = sim.crash(CRASH_MODES[round % CRASH_MODES.length]!, round);
        }
        const engine = openEncrypted(sim, encryption);
        engine.close();
      }
    } finally {
      observeNonces(undefined);
    }
    expect(seals).toBeGreaterThan(100);
    expect(lsnReused).toBeGreaterThan(0);
    expect(pairs.size).toBe(seals);
  });
  it('an append rolled back on a full disk: the next one seals the freed LSN under a fresh nonce, never the old one', () => {
    const sealed: string[] = [];
    const lsns: number[] = [];
    observeNonces((key, nonce, lsn) => {
      sealed.push(`${Buffer.from(key).toString('hex')}:${Buffer.from(nonce).toString('hex')}`);
      lsns.push(lsn);
    });
    try {
      const encryption = { key: new Uint8Array(32).fill(3) };
      const put = (k: string, v: string): { batch: Uint8Array; records: number } => encodeUnits([{ t: 'put', k, v }]);
      // Find the mutating call that writes the second batch, then fail exactly that one with ENOSPC.
      const probe = new SimFS();
      const p = openEncrypted(probe, encryption);
      const a = put('a', 'first');
      p.append(a.batch, false, a.records);
      p.flush();
      const at = probe.mutations + 1;
      p.close();
      const sim = new SimFS({ faults: [{ at, code: 'ENOSPC', persistent: false }] });
      const e = openEncrypted(sim, encryption);
      e.append(a.batch, false, a.records);
      e.flush();
      const b = put('b', 'rolled back');
      expect(() => e.append(b.batch, false, b.records)).toThrow();
      const c = put('c', 'written at the freed LSN');
      e.append(c.batch, false, c.records);
      e.flush();
      e.close();
      const again = openEncrypted(sim, encryption);
      const got = contents(again);
      again.close();
      expect(got.get('c')).toBe('written at the freed LSN');
      expect(got.has('b')).toBe(false);
    } finally {
      observeNonces(undefined);
    }
    expect(new Set(sealed).size).toBe(sealed.length);
    // The freed LSN really was sealed twice (b, then c), under two nonces.
    expect(new Set(lsns).size).toBeLessThan(lsns.length);
  });
});
