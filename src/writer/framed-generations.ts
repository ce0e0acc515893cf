import { DATA_START } from '../format/constants.js';
import type { FileIO } from '../log/file-io.js';
import { FRAME_BYTES, FrameFiller, newPageTable } from '../shm/frame-pool.js';
import { newWantedRing } from '../shm/framed-mirror.js';
import { FramedWriter } from '../shm/framed-writer.js';
import { GenerationFileWord } from '../shm/layout.js';
import { newGenerationFile, retireGenerationFile } from '../shm/record-fetch.js';
import { newUnitDirectory, UnitDirectory } from '../shm/sealed-file.js';

/**
 * An encrypted generation's keys and a reader of its mirror form's item
 * headers (the log as open or compaction built it, whole), from which its
 * unit directory is noted before any thread reads it through frames.
 */
export interface GenerationSeal {
  cipher: number;
  key: Uint8Array;
  headerAt: (lsn: number) => DataView;
  /** The directory an open through a window noted already (its entries past `end`, residue the open cut, are rewritten by the appends: U3). */
  directory?: UnitDirectory;
}

/** Test hook: every file-backed open without a cacheSize gets this one (the suites' tiny-cache tier). */
export function cacheSizeFromEnv(): number | undefined {
  const env = typeof process !== 'undefined' ? process.env.EMDB_CACHE_SIZE : undefined;
  const n = env === undefined || env === '' ? NaN : Number(env);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/**
 * The writer's frame pool and the log generations read through it
 * (docs/DESIGN.md, "Bounded page cache"): one pool of `cacheSize` bytes for
 * the life of the open database, so a compaction does not double the bound;
 * each generation gets an owner number, a page table and a read-only
 * descriptor that every thread preads through (G1). A generation a
 * compaction replaced gives its frames back at once and its descriptor once
 * no pread is in flight and no iterator pins it.
 */
export class FramedGenerations {
  readonly filler: FrameFiller;
  private nextOwner = 1;
  private readonly retiring: FramedWriter[] = [];

  constructor(
    cacheBytes: number,
    private readonly io: FileIO,
  ) {
    this.filler = new FrameFiller(FrameFiller.create(cacheBytes));
  }

  /**
   * A framed generation for the log file `file`, which ends at `end` (its
   * last page placed and pinned); `seal` for an encrypted one.
   */
  open(file: string, end: number, seal?: GenerationSeal): FramedWriter {
    const fd = this.io.open(file, 'r');
    try {
      const table = newPageTable(end).buffer as SharedArrayBuffer;
      let directory: UnitDirectory | undefined;
      if (seal?.directory) {
        directory = seal.directory;
        directory.publishTo(end);
      } else if (seal) {
        directory = new UnitDirectory(newUnitDirectory(end));
        directory.noteLog(DATA_START, end, seal.headerAt);
      }
      const spec = {
        pool: this.filler.spec,
        table,
        owner: this.nextOwner++,
        file: newGenerationFile(fd).buffer as SharedArrayBuffer,
        wanted: newWantedRing(),
        ...(seal && directory ? { sealed: { cipher: seal.cipher, key: seal.key, directory: directory.sab } } : {}),
      };
      const writer = new FramedWriter(spec, this.filler, fd, (f, buf, off, len, pos) => this.io.read(f, buf, off, len, pos), directory);
      writer.startAt(end);
      return writer;
    } catch (err) {
      this.io.close(fd);
      throw err;
    }
  }

  /** Whether the warm-up of `current` has pages left to place in free frames (it never evicts). */
  warmPending(current: FramedWriter, boundaries: readonly number[] | undefined): boolean {
    return !current.warmDone && (boundaries !== undefined || current.selfChecked) && this.filler.freeFrames > 0;
  }

  /**
   * Reads pages of `current` into free frames for about `budgetMs`, in log
   * order, each checked against the boundary CRCs (known up to `covered`);
   * true while more remain. After a reopen this makes the first reads hits
   * when the cache holds the log; it stops when the frames are full.
   */
  warm(current: FramedWriter, boundaries: readonly number[] | undefined, covered: number, budgetMs: number): boolean {
    if (!this.warmPending(current, boundaries)) return false;
    const stop = performance.now() + budgetMs;
    const last = Math.floor(covered / FRAME_BYTES);
    while (current.warmNext < last && this.filler.freeFrames > 0) {
      current.warmPage(current.warmNext++, boundaries, covered);
      if (performance.now() >= stop) return true;
    }
    current.warmDone = true;
    return false;
  }

  /** Caches the pages readers of `current` read from the file lately (the writer's timer; W2). */
  fillWanted(current: FramedWriter, boundaries: readonly number[] | undefined, covered: number): void {
    if (boundaries || current.selfChecked) current.fillWanted(boundaries, covered);
  }

  /** A generation was replaced (compaction): its frames are free now, its descriptor once nobody reads through it. */
  retire(old: FramedWriter): void {
    old.releaseFrames();
    // Not now: the new generation is published after this returns, and a reader that met FD = -1 before it
    // could not move to it (G3). The writer's timer retires it a turn later.
    this.retiring.push(old);
  }

  /** Closes the descriptors of replaced generations nobody reads any more; true while some remain (idle turns call it). */
  retireIdle(): boolean {
    for (let i = this.retiring.length - 1; i >= 0; i--) {
      const old = this.retiring[i]!;
      if (retireGenerationFile(new Int32Array(old.framed.file), (fd) => this.io.close(fd))) this.retiring.splice(i, 1);
    }
    return this.retiring.length > 0;
  }

  /**
   * The database closes: every descriptor is withdrawn. A pread still in
   * flight gets up to a second; past that its descriptor is left open (a
   * leak, never a pread on a reused number).
   */
  close(current: FramedWriter | undefined): void {
    if (current) this.retiring.push(current);
    for (const old of this.retiring) {
      const words = new Int32Array(old.framed.file);
      // Pins do not hold a closing database's descriptor: its iterators end with it.
      const fd = Atomics.exchange(words, GenerationFileWord.FD, -1);
      if (fd < 0) continue;
      const deadline = performance.now() + 1000;
      while (Atomics.load(words, GenerationFileWord.IN_FLIGHT) !== 0 && performance.now() < deadline) {
        // A pread on another thread finishes in microseconds.
      }
      if (Atomics.load(words, GenerationFileWord.IN_FLIGHT) === 0) this.io.close(fd);
    }
    this.retiring.length = 0;
  }
}
