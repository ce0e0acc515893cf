/**
 * A FileIO in front of a SimFS that can cut the power after a given number of
 * further mutating calls, armed at any time during a run (SimFS takes its cut
 * point at construction, before the run starts; a model-based run decides it
 * on the way). At the cut the call does not complete: a write is handed to the
 * file system first (it was in flight: its bytes are in the page cache and a
 * crash image may keep any part of them, or all of it on an O_DSYNC descriptor,
 * i.e. it completed unacknowledged); any other call is dropped. From then on
 * every call throws PowerCut, like SimFS after its own cut.
 */
import type { FileIO } from '../../../dist/src/log/file-io.js';
import type { CrashMode } from '../sim/crash-image.js';
import { PowerCut, type SimFS } from '../sim/sim-fs.js';

export class PowerSwitch implements FileIO {
  dead = false;
  /** How the image is damaged when the armed cut fires. */
  cutMode: CrashMode = 'dropUnsynced';
  cutSeed = 1;
  private remaining = Infinity;

  constructor(readonly sim: SimFS) {}

  /** Cuts the power at the `calls`-th mutating call from now (1 = the next one). */
  arm(calls: number, mode: CrashMode, seed: number): void {
    this.remaining = calls;
    this.cutMode = mode;
    this.cutSeed = seed;
  }

  disarm(): void {
    this.remaining = Infinity;
  }

  get armed(): boolean {
    return this.remaining !== Infinity;
  }

  open(file: string, flags: 'r' | 'r+' | 'wx' | 'r+dsync'): number {
    if (flags !== 'r') this.mutating();
    else this.alive();
    return this.sim.open(file, flags);
  }

  close(fd: number): void {
    this.alive();
    this.sim.close(fd);
  }

  size(fd: number): number {
    this.alive();
    return this.sim.size(fd);
  }

  read(fd: number, buf: Uint8Array, bufOffset: number, len: number, position: number): number {
    this.alive();
    return this.sim.read(fd, buf, bufOffset, len, position);
  }

  write(fd: number, buf: Uint8Array, bufOffset: number, len: number, position: number): number {
    this.alive();
    // The write the power fails in: handed over, never acknowledged (mutating() throws next).
    if (this.remaining <= 1) this.sim.write(fd, buf, bufOffset, len, position);
    this.mutating();
    return this.sim.write(fd, buf, bufOffset, len, position);
  }

  fdatasync(fd: number): void {
    this.mutating();
    this.sim.fdatasync(fd);
  }

  ftruncate(fd: number, len: number): void {
    this.mutating();
    this.sim.ftruncate(fd, len);
  }

  rename(from: string, to: string): void {
    this.mutating();
    this.sim.rename(from, to);
  }

  unlink(file: string): void {
    this.mutating();
    this.sim.unlink(file);
  }

  fsyncDir(dir: string): void {
    this.mutating();
    this.sim.fsyncDir(dir);
  }

  exists(file: string): boolean {
    this.alive();
    return this.sim.exists(file);
  }

  isDirectory(file: string): boolean {
    this.alive();
    return this.sim.isDirectory(file);
  }

  mkdirp(dir: string): void {
    this.mutating();
    this.sim.mkdirp(dir);
  }

  private alive(): void {
    if (this.dead) throw new PowerCut();
  }

  /** Counts down one mutating call; at zero the power goes. */
  private mutating(): void {
    this.alive();
    if (--this.remaining <= 0) {
      this.dead = true;
      throw new PowerCut();
    }
  }
}
