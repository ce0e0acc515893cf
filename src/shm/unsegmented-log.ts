import { GenerationFileWord } from './layout.js';
import { MirrorWriter } from './mirror.js';
import { newGenerationFile, RecordFetch, type ReadAt } from './record-fetch.js';
import type { UnitDirectory } from './sealed-file.js';

/**
 * The writer's views of a log that has no mirror segments of its own: a
 * framed generation (framed-writer.ts), a compaction's staged new log
 * (staged-log.ts) and an open's window (windowed-log.ts). Their records are
 * copies or views of private buffers that are reused, so whoever keeps bytes
 * copies them (`stableRecords` false), and a view covers exactly the record
 * it was resolved for. Nothing here is shared with other threads.
 */
export abstract class UnsegmentedLog extends MirrorWriter {
  /**
   * A sealed log's unit directory, noted as the log was built (an open's
   * window, a compaction's stage): the frames take it over (U3 covers its
   * entries past the end, which appends rewrite). Undefined when plaintext.
   */
  unitDirectory: UnitDirectory | undefined = undefined;

  constructor() {
    super([]);
    this.stableRecords = false;
  }

  override coverRecord(end: number): boolean {
    return end <= this.recU8.length;
  }

  /** A copy of log bytes [lsn, lsn + len), gathered from logBytes (less at the end of what it has). */
  override slice(lsn: number, len: number): Uint8Array {
    const out = new Uint8Array(len);
    for (let at = 0; at < len; ) {
      const chunk = this.logBytes(lsn + at, len - at);
      if (chunk.length === 0) break;
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  }

  override extendTo(): void {}

  /** No segment is ever added (what a write needs, it arranges itself). */
  override reserve(_lsn?: number, _len?: number): boolean {
    return false;
  }

  override fill(): void {
    throw new Error('this log is never filled: it has no segments');
  }

  override walkAt(_lsn?: number): number {
    throw new Error('this log is never walked: open walks the log before it is framed or staged');
  }
}

/**
 * Records read back from a log file by one pread each, checked against their
 * CRC (RecordFetch), through a descriptor of their own: the staged and the
 * windowed log's records that are no longer in their buffer.
 */
export class FileRecords {
  private readonly fetch: RecordFetch;
  private readonly file: Int32Array;

  constructor(
    fd: number,
    read: ReadAt,
    private readonly closeFd: (fd: number) => void,
  ) {
    this.fetch = new RecordFetch(read);
    this.file = newGenerationFile(fd);
  }

  /** Reads the record at `lsn` into `view`'s recU8 / recDv (offset 0). */
  resolve(view: MirrorWriter, lsn: number): number {
    if (this.fetch.fetch(this.file, lsn) < 0) throw new Error('a log file was read after its descriptor was closed');
    view.recU8 = this.fetch.bytes;
    view.recDv = this.fetch.dv;
    return 0;
  }

  /** The descriptor, for reads of whole ranges (the window), or -1 once closed. */
  get fd(): number {
    return Atomics.load(this.file, GenerationFileWord.FD);
  }

  close(): void {
    const fd = Atomics.exchange(this.file, GenerationFileWord.FD, -1);
    if (fd >= 0) this.closeFd(fd);
  }
}
