/**
 * The simulated file system the crash enumeration and fault injection run on
 * (test/sim/sim-fs.ts): what survives a power loss in each mode, directory
 * operations, O_DSYNC, fault injection and the power cut.
 */
import { describe, expect, it } from 'vitest';
import { writeFully } from '../../dist/src/log/file-io.js';
import { CRASH_MODES, SECTOR } from '../helpers/sim/crash-image.js';
import { PowerCut, SimFS } from '../helpers/sim/sim-fs.js';

const F = '/d/f';
const bytes = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill);

/** A file with `durable` synced bytes of 1s, then unsynced writes of 2, 3, 4, ... (each `len` bytes, appended). */
function withPending(durable: number, writes: number, len: number): SimFS {
  const sim = new SimFS();
  sim.mkdirp('/d');
  const fd = sim.open(F, 'wx');
  sim.write(fd, bytes(durable, 1), 0, durable, 0);
  sim.fdatasync(fd);
  sim.fsyncDir('/');
  sim.fsyncDir('/d');
  for (let i = 0; i < writes; i++) sim.write(fd, bytes(len, 2 + i), 0, len, durable + i * len);
  return sim;
}

describe('SimFS power loss', () => {
  it('dropUnsynced keeps exactly the synced bytes', () => {
    const sim = withPending(100, 3, 50);
    expect(sim.readFile(F)!.length).toBe(250);
    expect(sim.crash('dropUnsynced', 1).readFile(F)).toEqual(bytes(100, 1));
  });

  it('keepPrefix keeps a prefix of the writes in issue order, from none to all', () => {
    const sim = withPending(10, 4, 10);
    const lengths = new Set<number>();
    for (let seed = 0; seed < 60; seed++) {
      const got = sim.crash('keepPrefix', seed).readFile(F)!;
      const kept = (got.length - 10) / 10;
      expect(Number.isInteger(kept)).toBe(true);
      for (let i = 0; i < kept; i++) expect(got.subarray(10 + i * 10, 20 + i * 10)).toEqual(bytes(10, 2 + i));
      lengths.add(got.length);
    }
    expect([...lengths].sort((a, b) => a - b)).toEqual([10, 20, 30, 40, 50]);
  });

  it('keepSectors: every 4 KiB sector is wholly old or wholly new, and both happen', () => {
    const sim = new SimFS();
    sim.mkdirp('/d');
    const fd = sim.open(F, 'wx');
    sim.write(fd, bytes(4 * SECTOR, 1), 0, 4 * SECTOR, 0);
    sim.fdatasync(fd);
    sim.fsyncDir('/');
    sim.fsyncDir('/d');
    sim.write(fd, bytes(4 * SECTOR, 9), 0, 4 * SECTOR, 0);
    const seen = new Set<number>();
    for (let seed = 0; seed < 20; seed++) {
      const got = sim.crash('keepSectors', seed).readFile(F)!;
      for (let s = 0; s < 4; s++) {
        const sector = got.subarray(s * SECTOR, (s + 1) * SECTOR);
        expect(sector.every((b) => b === sector[0])).toBe(true);
        seen.add(sector[0]!);
      }
    }
    expect([...seen].sort()).toEqual([1, 9]);
  });

  it('tornSector: a prefix survives and only the last surviving write is torn, within its last sector', () => {
    const len = SECTOR + 100;
    const sim = withPending(0, 2, len);
    let torn = 0;
    for (let seed = 0; seed < 40; seed++) {
      const got = sim.crash('tornSector', seed).readFile(F)!;
      expect([len, 2 * len]).toContain(got.length);
      const tornFrom = Math.floor((got.length - 1) / SECTOR) * SECTOR;
      // Outside the torn sector the bytes are those of the writes; inside, each is new or old (zero: past the old end).
      let bad = 0;
      let old = 0;
      for (let i = 0; i < got.length; i++) {
        const want = i < len ? 2 : 3;
        if (got[i] === want) continue;
        if (i >= tornFrom && got[i] === 0) old++;
        else bad++;
      }
      expect(bad).toBe(0);
      if (old > 0) torn++;
    }
    expect(torn).toBeGreaterThan(0);
  });

  it('extendedZeros / extendedGarbage: the new length with the unsynced tail unwritten', () => {
    const sim = withPending(100, 1, 5000);
    const zeros = sim.crash('extendedZeros', 1).readFile(F)!;
    expect(zeros.length).toBe(5100);
    expect(zeros.subarray(0, 100)).toEqual(bytes(100, 1));
    expect(zeros.subarray(100).every((b) => b === 0)).toBe(true);
    const garbage = sim.crash('extendedGarbage', 1).readFile(F)!;
    expect(garbage.length).toBe(5100);
    expect(garbage.subarray(0, 100)).toEqual(bytes(100, 1));
    expect(garbage.subarray(100).some((b) => b !== 0 && b !== 2)).toBe(true);
  });

  it('writes on an r+dsync descriptor are durable when they return, in every mode', () => {
    const sim = withPending(10, 0, 0);
    const fd = sim.open(F, 'r+dsync');
    sim.write(fd, bytes(20, 7), 0, 20, 10);
    for (const mode of CRASH_MODES) expect(sim.crash(mode, 3).readFile(F)!.subarray(10)).toEqual(bytes(20, 7));
  });

  it('create, rename and unlink are reverted unless the directory was fsynced', () => {
    const sim = withPending(10, 0, 0);
    const fd = sim.open('/d/new', 'wx');
    sim.write(fd, bytes(5, 5), 0, 5, 0);
    sim.fdatasync(fd);
    sim.rename(F, '/d/g');
    expect(sim.list('/d')).toEqual(['g', 'new']);
    for (const mode of CRASH_MODES.filter((m) => m !== 'keepPrefix')) expect(sim.crash(mode, 1).list('/d')).toEqual(['f']);
    sim.fsyncDir('/d');
    sim.unlink('/d/new');
    const image = sim.crash('dropUnsynced', 1);
    expect(image.list('/d')).toEqual(['g', 'new']);
    expect(image.readFile('/d/new')).toEqual(bytes(5, 5));
  });

  it('keepPrefix may keep a prefix of the unsynced directory operations, never a later one without an earlier one', () => {
    const sim = withPending(10, 0, 0);
    sim.close(sim.open('/d/a', 'wx'));
    sim.rename('/d/a', '/d/b');
    const outcomes = new Set<string>();
    for (let seed = 0; seed < 40; seed++) outcomes.add(sim.crash('keepPrefix', seed).list('/d').join(','));
    expect([...outcomes].sort()).toEqual(['a,f', 'b,f', 'f']);
  });

  it('a new directory needs its parent fsynced', () => {
    const sim = new SimFS();
    sim.mkdirp('/x/y');
    sim.fsyncDir('/x/y');
    expect(sim.crash('dropUnsynced', 1).exists('/x')).toBe(false);
    sim.fsyncDir('/');
    expect(sim.crash('dropUnsynced', 1).exists('/x/y')).toBe(false);
    sim.fsyncDir('/x');
    expect(sim.crash('dropUnsynced', 1).isDirectory('/x/y')).toBe(true);
  });

  it('the image is all durable and independent of the original', () => {
    const sim = withPending(10, 2, 10);
    const image = sim.crash('keepPrefix', 5);
    const before = image.readFile(F)!;
    expect(image.crash('dropUnsynced', 9).readFile(F)).toEqual(before);
    sim.write(sim.open(F, 'r+'), bytes(10, 8), 0, 10, 0);
    expect(image.readFile(F)).toEqual(before);
  });
});

describe('SimFS faults', () => {
  it('fails the n-th mutating call with an error shaped like node:fs, once (transient)', () => {
    const sim = new SimFS({ faults: [{ at: 2, code: 'ENOSPC', persistent: false }] });
    sim.mkdirp('/d');
    const fd = (() => {
      try {
        sim.open(F, 'wx');
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        expect(e).toBeInstanceOf(Error);
        expect(e.code).toBe('ENOSPC');
        expect(e.errno).toBe(-28);
        expect(e.syscall).toBe('open');
        expect(e.path).toBe(F);
        expect(e.message).toBe(`ENOSPC: no space left on device, open '${F}'`);
        return sim.open(F, 'wx');
      }
      throw new Error('no fault');
    })();
    sim.write(fd, bytes(3, 1), 0, 3, 0);
    expect(sim.mutations).toBe(4);
    expect(sim.faultsFired).toBe(1);
    expect(sim.log.map((c) => c.fault ?? '-')).toEqual(['-', 'ENOSPC', '-', '-']);
  });

  it('a persistent fault fails every later mutating call, reads keep working', () => {
    const sim = withPending(10, 0, 0);
    const fd = sim.open(F, 'r+');
    const s = new SimFS({ faults: [{ at: 1, code: 'EROFS', persistent: true }] });
    expect(() => s.mkdirp('/d')).toThrow(/EROFS/);
    expect(() => s.mkdirp('/e')).toThrow(/EROFS/);
    expect(s.faultsFired).toBe(1);
    const buf = new Uint8Array(10);
    expect(sim.read(fd, buf, 0, 10, 0)).toBe(10);
  });

  it('a short write stores and reports fewer bytes; writeFully completes the rest', () => {
    const sim = new SimFS({ faults: [{ at: 3, code: 'short' }], seed: 4 });
    sim.mkdirp('/d');
    const fd = sim.open(F, 'wx');
    const data = Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff);
    writeFully(sim, fd, data, 0, data.length, 0);
    expect(sim.faultsFired).toBe(1);
    expect(sim.log.filter((c) => c.op === 'write').length).toBe(2);
    expect(sim.readFile(F)).toEqual(data);
  });

  it('a failed fdatasync reports EIO once and drops the unsynced data: still readable, never durable', () => {
    const sim = new SimFS({ faults: [{ at: 7, code: 'syncFail' }] });
    sim.mkdirp('/d');
    const fd = sim.open(F, 'wx');
    sim.write(fd, bytes(10, 1), 0, 10, 0);
    sim.fdatasync(fd);
    sim.fsyncDir('/');
    sim.write(fd, bytes(10, 2), 0, 10, 10);
    expect(() => sim.fdatasync(fd)).toThrow(expect.objectContaining({ code: 'EIO', syscall: 'fdatasync' }));
    sim.fsyncDir('/d');
    expect(sim.readFile(F)!.length).toBe(20);
    sim.fdatasync(fd); // succeeds, but the dropped pages are clean: nothing is written
    expect(sim.durableFile(F)).toEqual(bytes(10, 1));
    expect(sim.crash('keepPrefix', 1).readFile(F)).toEqual(bytes(10, 1));
  });

  it('a power cut stops the machine at the cut call; a write in flight may land in part', () => {
    const sim = new SimFS({ cutAt: 5 });
    sim.mkdirp('/d');
    const fd = sim.open(F, 'wx');
    sim.fsyncDir('/');
    sim.fsyncDir('/d');
    expect(() => sim.write(fd, bytes(8192, 6), 0, 8192, 0)).toThrow(PowerCut);
    expect(sim.dead).toBe(true);
    expect(() => sim.exists(F)).toThrow(PowerCut);
    expect(sim.crash('dropUnsynced', 1).readFile(F)!.length).toBe(0);
    expect(sim.crash('keepPrefix', 0).readFile(F)!.length % 8192).toBe(0);
    const lengths = new Set(Array.from({ length: 30 }, (_, seed) => sim.crash('keepPrefix', seed).readFile(F)!.length));
    expect(lengths).toEqual(new Set([0, 8192]));
  });
});
