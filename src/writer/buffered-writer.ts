import { writeFully, type FileIO } from '../log/file-io.js';

const MAX_RUN = 4 << 20;

/**
 * Sequential writes in runs of up to 4 MiB, so compaction does not pay a syscall
 * per record. The buffer grows with use: a small database is not charged a
 * zeroed 4 MiB allocation per compaction.
 */
export class BufferedWriter {
  private buf = new Uint8Array(64 << 10);
  private len = 0;
  private start = 0;

  constructor(
    private readonly io: FileIO,
    private readonly fd: number,
  ) {}

  write(bytes: Uint8Array, position: number): void {
    if (this.len > 0 && (position !== this.start + this.len || this.len + bytes.length > MAX_RUN)) this.flush();
    if (this.len === 0) this.start = position;
    if (bytes.length > MAX_RUN) {
      writeFully(this.io, this.fd, bytes, 0, bytes.length, position);
      return;
    }
    if (this.len + bytes.length > this.buf.length) {
      const grown = new Uint8Array(Math.min(MAX_RUN, Math.max(this.buf.length * 2, this.len + bytes.length)));
      grown.set(this.buf.subarray(0, this.len));
      this.buf = grown;
    }
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  flush(): void {
    if (this.len > 0) writeFully(this.io, this.fd, this.buf, 0, this.len, this.start);
    this.len = 0;
  }
}
